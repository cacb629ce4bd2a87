# ember_library(NAME DEPS...): one static library from every .c file directly in the current directory.
# Sources are globbed (CONFIGURE_DEPENDS) so adding a file to a module needs no edit here.
function(ember_library name)
    cmake_parse_arguments(A "" "" "DEPS" ${ARGN})
    file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
    if(_srcs)
        add_library(${name} STATIC ${_srcs})
        target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
        target_compile_options(${name} PRIVATE ${EMBER_WARNINGS})
        target_link_libraries(${name} PUBLIC ${A_DEPS})
    else()
        add_library(${name} INTERFACE)
        target_include_directories(${name} INTERFACE ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
        target_link_libraries(${name} INTERFACE ${A_DEPS})
    endif()
endfunction()

set(EMBER_ALL_LIBS ember_net ember_ingest ember_query ember_engine ember_base)
