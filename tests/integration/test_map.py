#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Black-box tests of what the dispatcher's map needs from the server (issue 12).

Leaflet is served from Debian's libjs-leaflet (/usr/share/javascript/leaflet)
under /vendor/leaflet/, whatever --www is, never anything outside that folder;
/map-config.json tells the page whether a basemap is configured
(serve --map-tiles URL_TEMPLATE, --map-tiles-attribution TEXT, also from the
config file and WAYPOINTD_MAP_TILES*). Run directly:
    /usr/bin/python3 tests/integration/test_map.py
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wpd  # noqa: E402

LEAFLET = "/usr/share/javascript/leaflet"
TILES = "https://tiles.example.net/{z}/{x}/{y}.png"


class MapTest(unittest.TestCase):
    def setUp(self):
        self.sb = wpd.Sandbox(prefix="wpd-map-")
        self.addCleanup(self.sb.close)

    @unittest.skipUnless(os.path.isfile(os.path.join(LEAFLET, "leaflet.esm.js")), "libjs-leaflet is not installed")
    def test_leaflet_from_the_debian_package_whatever_www_is(self):
        www = self.sb.copy_www()   # a --www folder of its own: Leaflet is not in it
        srv = self.sb.server(www=www)
        for name, ctype in (("leaflet.esm.js", "text/javascript"), ("leaflet.css", "text/css"),
                            ("images/layers.png", "image/png")):
            with self.subTest(name=name):
                r = self.sb.curl(srv, "/vendor/leaflet/" + name)
                self.assertEqual(r.code, 200)
                self.assertTrue(r.headers.get("content-type", "").startswith(ctype), r.headers)
                with open(os.path.join(LEAFLET, name), "rb") as f:
                    self.assertEqual(r.body, f.read())
        # Nothing else of the system: no way out of the folder, no other package's files.
        for path in ("/vendor/leaflet/../../../../etc/passwd", "/vendor/leaflet/%2e%2e/jquery/jquery.js",
                     "/vendor/leaflet/", "/vendor/leaflet/missing.js", "/vendor/other/x.js", "/vendor/leaflet/.hidden"):
            with self.subTest(path=path):
                r = self.sb.curl(srv, path, path_as_is=True)
                self.assertIn(r.code, (400, 403, 404), (path, r.code))
                self.assertNotIn(b"root:", r.body)
        # The pages are still those of --www.
        self.assertEqual(self.sb.curl(srv, "/dispatch.html").code, 200)

    def test_map_config_without_tiles(self):
        srv = self.sb.server()
        r = self.sb.curl(srv, "/map-config.json")
        self.assertEqual(r.code, 200)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"))
        self.assertEqual(r.json(), {"tiles": None, "attribution": ""})

    def test_map_config_from_the_command_line_and_environment(self):
        srv = self.sb.server(extra=("--map-tiles", TILES, "--map-tiles-attribution", "© \"Example\" <maps>"))
        self.assertEqual(self.sb.curl(srv, "/map-config.json").json(),
                         {"tiles": TILES, "attribution": "© \"Example\" <maps>"})
        srv.stop()
        srv = self.sb.server(env={"WAYPOINTD_MAP_TILES": "/tiles/{z}/{x}/{y}.png"})
        self.assertEqual(self.sb.curl(srv, "/map-config.json").json(), {"tiles": "/tiles/{z}/{x}/{y}.png", "attribution": ""})

    def test_map_tiles_in_check_config_and_refused_when_malformed(self):
        base = ["serve", "--db", self.sb.db, "--listen", "127.0.0.1:0", "--cert", self.sb.cert, "--key", self.sb.key]
        conf = self.sb.path("map.conf")
        with open(conf, "w") as f:
            f.write("map-tiles = %s\nmap-tiles-attribution = \"Map data © Example\"\n" % TILES)
        r = wpd.waypointd(*base, "--config", conf, "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("map-tiles = %s\n" % TILES, r.stdout)
        self.assertIn("map-tiles-attribution = Map data © Example\n", r.stdout)
        r = wpd.waypointd(*base, "--check-config")
        self.assertNotIn("map-tiles", r.stdout)
        for bad in ("tiles.example.net/{z}/{x}/{y}.png", "https://tiles.example.net/{z}/{x}.png", "ftp://t/{z}/{x}/{y}", "http://t.example/{z}/{x}/{y}.png", "//t.example/{z}/{x}/{y}",
                    "https://t.example/{z}/{x}/{y}.png\"><script>"):
            with self.subTest(bad=bad):
                r = wpd.waypointd(*base, "--map-tiles", bad, "--check-config")
                self.assertEqual(r.returncode, 2, r)
                self.assertIn("--map-tiles", r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
