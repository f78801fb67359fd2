-- SPDX-License-Identifier: MIT
-- A small sample data set: one DC, three customers, yesterday's delivery on
-- route-4 and today's route-7 (each customer at most once on a route, ETAs in
-- stop order). Written with plain SQL, as a route planner would:
--   waypointd init --db waypoints.db && sqlite3 waypoints.db < scripts/sample.sql
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
