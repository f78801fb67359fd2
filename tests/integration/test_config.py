#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of serve's configuration: --config FILE, WAYPOINTD_*
environment variables, command-line overrides, --check-config, and the
documented example (docs/waypointd.conf.example) whose every value must be
the real default.

Run directly: /usr/bin/python3 tests/integration/test_config.py
"""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

EXAMPLE = os.path.join(wpd.SOURCE_DIR, "docs", "waypointd.conf.example")
SETTING = re.compile(r"^([a-z-]+) = (.*)$")


def settings(text):
    """'name = value' lines -> list of (name, value), comments dropped."""
    out = []
    for line in text.splitlines():
        line = line.split(" #")[0].strip()
        if line and not line.startswith("#"):
            m = SETTING.match(line)
            if not m:
                raise AssertionError("not a setting line: %r" % line)
            out.append((m.group(1), m.group(2).strip('"')))
    return out


class ConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sb = wpd.Sandbox()

    @classmethod
    def tearDownClass(cls):
        cls.sb.close()

    def clean_env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAYPOINTD_")}
        env.update(extra or {})
        return env

    def write(self, name, text):
        path = self.sb.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def required(self):
        return "db = %s\nlisten = 127.0.0.1:0\ncert = %s\nkey = %s\n" % (self.sb.db, self.sb.cert, self.sb.key)

    def check(self, *args, env=None):
        return wpd.run([wpd.WAYPOINTD, "serve", *args, "--check-config"], env=self.clean_env(env))

    def test_example_documents_the_real_defaults(self):
        with open(EXAMPLE) as f:
            example = f.read()
        documented = [(k, v) for k, v in settings(example) if k not in ("db", "listen", "cert", "key")]
        self.assertGreaterEqual(len(documented), 10)
        # the example with this sandbox's paths, and the defaults alone, give the same
        conf = self.write("example.conf", self.required() + "\n".join("%s = %s" % kv for kv in documented) + "\n")
        bare = self.write("bare.conf", self.required())
        with_example, with_defaults = self.check("--config", conf), self.check("--config", bare)
        self.assertEqual(with_example.returncode, 0, with_example.stderr)
        self.assertEqual(with_defaults.returncode, 0, with_defaults.stderr)
        self.assertEqual(with_example.stdout, with_defaults.stdout)
        effective = dict(settings(with_defaults.stdout))
        for key, value in documented:
            self.assertEqual(effective.get(key), value, key)
        # every setting serve prints is described in the example (commented or not)
        for key in effective:
            self.assertRegex(example, r"(?m)^#? ?%s = " % re.escape(key))
        self.assertIn("configuration OK", with_defaults.stderr)

    def test_precedence_file_env_command_line(self):
        conf = self.write("prec.conf", self.required() + "rate-limit-addr = 5\nmax-subs = 9\n")
        out = dict(settings(self.check("--config", conf).stdout))
        self.assertEqual((out["rate-limit-addr"], out["max-subs"]), ("5", "9"))
        env = {"WAYPOINTD_RATE_LIMIT_ADDR": "6"}
        out = dict(settings(self.check("--config", conf, env=env).stdout))
        self.assertEqual((out["rate-limit-addr"], out["max-subs"]), ("6", "9"))
        out = dict(settings(self.check("--config", conf, "--rate-limit-addr", "7", env=env).stdout))
        self.assertEqual((out["rate-limit-addr"], out["max-subs"]), ("7", "9"))

    def test_issue_11_env_false_overrides_file_true(self):
        conf = self.write("flag.conf", self.required() + "access-log = true\n")
        out = dict(settings(self.check("--config", conf).stdout))
        self.assertEqual(out["access-log"], "true")
        r = self.check("--config", conf, env={"WAYPOINTD_ACCESS_LOG": "false"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(dict(settings(r.stdout))["access-log"], "false", "the environment wins over the file")
        r = self.check("--config", conf, "--access-log", env={"WAYPOINTD_ACCESS_LOG": "false"})
        self.assertEqual(dict(settings(r.stdout))["access-log"], "true", "the command line wins over both")

    def test_config_file_from_the_environment_and_flags(self):
        conf = self.write("env.conf", self.required() + "access-log = true\nallow-origin = https://a.example\n")
        r = self.check("--allow-origin", "https://b.example", env={"WAYPOINTD_CONFIG": conf})
        self.assertEqual(r.returncode, 0, r.stderr)
        out = settings(r.stdout)
        self.assertIn(("access-log", "true"), out)
        self.assertEqual([v for k, v in out if k == "allow-origin"], ["https://a.example", "https://b.example"])

    def test_every_setting_from_the_environment(self):
        env = {"WAYPOINTD_DB": self.sb.db, "WAYPOINTD_LISTEN": "127.0.0.1:0", "WAYPOINTD_CERT": self.sb.cert,
               "WAYPOINTD_KEY": self.sb.key, "WAYPOINTD_LOG_FORMAT": "json"}
        r = self.check(env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(("log-format", "json"), settings(r.stdout))

    def test_serves_from_a_config_file(self):
        conf = self.write("serve.conf", "listen = 127.0.0.1:0\ncert = %s\nkey = %s\n" % (self.sb.cert, self.sb.key))
        srv = wpd.Server(self.sb.db, self.sb.cert, self.sb.key, logdir=self.sb.dir)
        srv.argv = [wpd.WAYPOINTD, "serve", "--config", conf, "--db", self.sb.db]
        self.sb.servers.append(srv)
        srv.start()
        r = self.sb.curl(srv, "/dcs/x/customers/y")
        self.assertEqual(r.code, 401)
        self.assertEqual(srv.stop(), 0)

    def test_errors_are_one_line_with_usage_exit_code(self):
        cases = [
            ("unknown.conf", self.required() + "colour = blue\n", "unknown.conf:5: unknown setting \"colour\""),
            ("syntax.conf", self.required() + "threads 4\n", "syntax.conf:5: expected name = value"),
            ("flag.conf", self.required() + "access-log = sometimes\n", "access-log takes true or false"),
            ("range.conf", self.required() + "max-subs = 0\n", "--max-subs takes 1 to 10000"),
        ]
        for name, text, want in cases:
            with self.subTest(name=name):
                r = self.check("--config", self.write(name, text))
                self.assertEqual(r.returncode, 2, r)
                self.assertIn(want, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        r = self.check("--config", self.sb.path("missing.conf"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot read config", r.stderr)
        r = self.check(env={"WAYPOINTD_MAX_SUBS": "lots", "WAYPOINTD_DB": "x"})
        self.assertEqual(r.returncode, 2)

    def test_issue_12_a_bad_value_names_its_file_and_line_or_variable(self):
        tail = " (see waypointd serve --help)"
        cases = [
            ("range2.conf", "threads = 99\n", {},
             "range2.conf:5: --threads takes 1 to 64, a whole number"),
            ("listen.conf", "listen = nowhere\n", {},
             "listen.conf:5: --listen must be HOST:PORT with PORT from 0 to 65535"),
            ("level.conf", "log-level = loud\n", {},
             "level.conf:5: --log-level takes error, warn, info or debug"),
            ("origin.conf", "allow-origin = example.com\n", {},
             'origin.conf:5: --allow-origin: "example.com" is not an origin like https://example.com[:port]'),
            ("tiles.conf", "map-tiles = http://x/{z}\n", {},
             "tiles.conf:5: --map-tiles takes a tile URL template with {z}, {x} and {y}, starting https:// or /"),
            ("ok.conf", "", {"WAYPOINTD_MAX_SUBS": "lots"},
             "WAYPOINTD_MAX_SUBS: --max-subs takes 1 to 10000, a whole number"),
            ("ok.conf", "", {"WAYPOINTD_METRICS_LISTEN": "9090"},
             "WAYPOINTD_METRICS_LISTEN: --metrics-listen must be HOST:PORT with PORT from 0 to 65535"),
            ("ok.conf", "", {"WAYPOINTD_LOG_FORMAT": "xml"}, "WAYPOINTD_LOG_FORMAT: --log-format takes text or json"),
        ]
        for name, text, env, want in cases:
            with self.subTest(name=name, env=env):
                path = self.write(name, self.required() + text)
                r = self.check("--config", path, env=env)
                self.assertEqual(r.returncode, 2, r)
                self.assertEqual(r.stderr.strip(), "waypointd serve: %s/%s%s" % (self.sb.dir, want, tail)
                                 if want.startswith(name) else "waypointd serve: %s%s" % (want, tail))
        # the command line's own values are told without a place
        r = self.check("--config", self.write("ok.conf", self.required()), "--threads", "99")
        self.assertEqual(r.stderr.strip(), "waypointd serve: --threads takes 1 to 64, a whole number" + tail)
        # a bad value stops serve even where a later place overrides it; the first is named
        r = self.check("--config", self.write("over.conf", self.required() + "threads = 99\n"), "--threads", "2",
                       env={"WAYPOINTD_THREADS": "0"})
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("over.conf:5: --threads", r.stderr)

    def test_issue_12_several_origins_in_one_value(self):
        env = {"WAYPOINTD_ALLOW_ORIGIN": "https://a.example, https://b.example:8443  https://c.example"}
        conf = self.write("origins.conf", self.required() + "allow-origin = https://d.example,https://e.example\n")
        r = self.check("--config", conf, "--allow-origin", "https://f.example https://g.example", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([v for k, v in settings(r.stdout) if k == "allow-origin"],
                         ["https://d.example", "https://e.example", "https://a.example", "https://b.example:8443",
                          "https://c.example", "https://f.example", "https://g.example"])
        # one bad origin in the list is named, with the variable
        r = self.check("--config", conf, env={"WAYPOINTD_ALLOW_ORIGIN": "https://a.example,b.example"})
        self.assertEqual(r.returncode, 2, r)
        self.assertEqual(r.stderr.strip(), 'waypointd serve: WAYPOINTD_ALLOW_ORIGIN: --allow-origin: "b.example" is '
                         'not an origin like https://example.com[:port] (see waypointd serve --help)')
        # the packaged env file's example, as systemd's EnvironmentFile= reads it
        with open(os.path.join(wpd.SOURCE_DIR, "packaging", "waypointd.env")) as f:
            line = [ln for ln in f.read().splitlines() if ln.startswith("#WAYPOINTD_ALLOW_ORIGIN=")][0]
        name, value = line[1:].split("=", 1)
        r = self.check("--config", self.write("bare.conf", self.required()), env={name: value})
        self.assertEqual(r.returncode, 0, r.stderr)
        want = re.split(r"[,\s]+", value.strip())
        self.assertGreaterEqual(len(want), 2, "the example shows several origins")
        self.assertEqual([v for k, v in settings(r.stdout) if k == "allow-origin"], want)
        r = self.check("--config", conf, env={"WAYPOINTD_ALLOW_ORIGIN": " , "})
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("WAYPOINTD_ALLOW_ORIGIN: --allow-origin needs at least one origin", r.stderr)

    def test_check_config_checks_certificate_and_database(self):
        bad = self.write("bad-cert.pem", "not a certificate\n")
        conf = self.write("badcert.conf", self.required().replace(self.sb.cert, bad))
        r = self.check("--config", conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a PEM certificate", r.stderr)
        conf = self.write("nodb.conf", self.required().replace(self.sb.db, self.sb.path("nope", "x.db")))
        r = self.check("--config", conf)
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main()
