-- SPDX-License-Identifier: MIT
-- A small sample data set, for trying waypointd without the demo: one DC
-- (Foxtrot-DC), three customers (one with a confident location, one not, one
-- with no address at all), yesterday's delivery on route-4 and today's route-7
-- under way (each customer at most once on a route, ETAs in stop order,
-- relative to now). Written with plain SQL into the contract's tables, as a
-- route planner would; the triggers `waypointd init` installed record the
-- waypoints for live updates. Load it once into an initialised database:
--   waypointd init --db waypoints.db && sqlite3 waypoints.db < scripts/sample.sql
-- (installed as /usr/share/doc/waypointd/examples/sample.sql). Loading it
-- again changes nothing (INSERT OR IGNORE). The examples in README.md and
-- `man waypointd` use these ids; `waypointd simulate --db waypoints.db` then
-- plays a delivery day on them. tests/integration/test_newcomer.py runs them.
INSERT OR IGNORE INTO dcs(id, name) VALUES ('Foxtrot-DC', 'Foxtrot Distribution Centre');
INSERT OR IGNORE INTO customers(dc_id, id, name, imported_address, imported_latitude, imported_longitude,
                                inferred_latitude, inferred_longitude, location_confident) VALUES
  ('Foxtrot-DC', 'johns-burger-shack', 'John''s Burger Shack', '1 Market St, San Francisco, CA',
   37.77493, -122.41942, 37.77483, -122.41940, 1),
  ('Foxtrot-DC', 'bay-bikes', 'Bay Bikes', '500 Valencia St, San Francisco, CA',
   37.76450, -122.42190, 37.76452, -122.42181, 0),
  ('Foxtrot-DC', 'mission-books', 'Mission Books', NULL, NULL, NULL, NULL, NULL, 0);
INSERT OR IGNORE INTO waypoints(dc_id, id, customer_id, route_id, status, completed_timestamp,
                                estimated_time_of_arrival, waypoints_ahead, waiting_time_seconds) VALUES
  ('Foxtrot-DC', 'wp-1001', 'johns-burger-shack', 'route-4', 'COMPLETED',
   CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 86400000, NULL, 0, 420),
  ('Foxtrot-DC', 'wp-1002', 'bay-bikes', 'route-7', 'COMPLETED',
   CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 3600000, NULL, 0, 300),
  ('Foxtrot-DC', 'wp-1003', 'johns-burger-shack', 'route-7', 'PENDING', NULL,
   CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + 1800000, 4, 600),
  ('Foxtrot-DC', 'wp-1004', 'mission-books', 'route-7', 'PENDING', NULL,
   CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + 2700000, 5, 300);
