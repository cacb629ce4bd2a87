#!/usr/bin/python3
"""--web.config.file: HTTPS with HTTP/2 by ALPN, basic authentication on every path, extra headers, and
clear errors for a bad web configuration."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import harness  # noqa: E402
from harness import EMBER_BIN, wait_for  # noqa: E402



def make_cert(d):
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def bcrypt(password):
    import crypt  # Debian's python3 still ships it
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))


def curl(*args):
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", *args],
                         capture_output=True, timeout=30)
    code, ver = out.stdout.decode().split()
    return int(code), ver


class WebConfigTest(harness.TempDirTestCase):
    def start_with(self, text):
        path = os.path.join(self.tmp, "web.yml")
        with open(path, "w") as f:
            f.write(text)
        return self.start_ember(args=[f"--web.config.file={path}"])

    def test_https_with_h2_and_basic_auth(self):
        crt, key = make_cert(self.tmp)
        e = self.start_with(f"""tls_server_config:
  cert_file: {crt}
  key_file: {key}
http_server_config:
  headers:
    X-Frame-Options: deny
basic_auth_users:
  admin: '{bcrypt("secret")}'
""")
        url = f"https://127.0.0.1:{e.port}"
        wait_for(lambda: curl("--cacert", crt, "-u", "admin:secret", url + "/-/ready")[0] == 200, 60,
                 what="HTTPS readiness")
        self.assertEqual(curl("--cacert", crt, url + "/-/healthy")[0], 401, "no credentials")
        self.assertEqual(curl("--cacert", crt, "-u", "admin:wrong", url + "/-/healthy")[0], 401)
        self.assertEqual(curl("--cacert", crt, "-u", "nobody:secret", url + "/metrics")[0], 401)
        self.assertEqual(curl("--cacert", crt, "-u", "admin:secret", "--http2", url + "/-/healthy"), (200, "2"))
        self.assertEqual(curl("--cacert", crt, "-u", "admin:secret", "--http1.1", url + "/metrics"), (200, "1.1"))
        hdrs = subprocess.run(["curl", "-sS", "-D", "-", "-o", "/dev/null", "--cacert", crt, "-u", "admin:secret",
                               url + "/-/healthy"], capture_output=True, timeout=30).stdout.decode().lower()
        self.assertIn("x-frame-options: deny", hdrs)
        # Plain HTTP to the TLS port does not get through.
        self.assertNotEqual(curl(f"http://127.0.0.1:{e.port}/-/healthy")[0], 200)

    def test_bad_web_config_refuses_to_start(self):
        path = os.path.join(self.tmp, "web.yml")
        with open(path, "w") as f:
            f.write("tls_server_config:\n  cert_file: /nonexistent/cert.pem\n  key_file: /nonexistent/key.pem\n")
        out = subprocess.run([EMBER_BIN, f"--web.config.file={path}", "--web.listen-address=127.0.0.1:0",
                              f"--storage.tsdb.path={self.tmp}/data"], capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        err = out.stderr.decode()
        self.assertIn("web.yml", err)
        self.assertIn("/nonexistent/cert.pem", err)


if __name__ == "__main__":
    harness.run()
