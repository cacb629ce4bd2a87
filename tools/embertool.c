#include <stdio.h>
int main(void) { puts("embertool"); return 0; }
