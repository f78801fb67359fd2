/* SPDX-License-Identifier: MIT
 *
 * The aux log's schema (see store_aux.h). The triggers run in the writer's
 * transaction, so an aux row exists exactly when its write commits. The seq
 * is read from sqlite_sequence rather than MAX(seq) of change_log: pruning
 * empties change_log but sqlite_sequence keeps the last seq handed out, and
 * the relay orders an aux row right after that change (ids s-1, s-2, ...).
 * BLOB columns (api_keys.hash, secrets.value) go into the image as hex:
 * json_object refuses BLOBs. api_key_dcs is WITHOUT ROWID, so its image has
 * no rowid; the others carry theirs as "rowid".
 */
#include "store_aux.h"

#define AUX_SEQ "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0)"

const char store_aux_schema[] =
    "CREATE TABLE IF NOT EXISTS aux_log(id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL,"
    " tbl TEXT NOT NULL, op TEXT NOT NULL, key TEXT NOT NULL, image TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS aux_log_by_seq ON aux_log(seq, id);"
    /* Pruning follows the change log's without a hook in store_log.c. */
    "CREATE TRIGGER IF NOT EXISTS aux_prune AFTER UPDATE OF pruned_through ON change_log_state BEGIN"
    " DELETE FROM aux_log WHERE seq <= NEW.pruned_through; END;"
    "CREATE TRIGGER IF NOT EXISTS aux_dcs_i AFTER INSERT ON dcs BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'dcs', 'i', NEW.id,"
    " json_object('rowid', NEW.rowid, 'id', NEW.id, 'name', NEW.name)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_dcs_u AFTER UPDATE ON dcs BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'dcs', 'u', NEW.id,"
    " json_object('rowid', NEW.rowid, 'id', NEW.id, 'name', NEW.name)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_dcs_d AFTER DELETE ON dcs BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'dcs', 'd', OLD.id,"
    " json_object('rowid', OLD.rowid, 'id', OLD.id, 'name', OLD.name)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_customers_i AFTER INSERT ON customers BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'customers', 'i', NEW.dc_id || '/' || NEW.id,"
    " json_object('rowid', NEW.rowid, 'dc_id', NEW.dc_id, 'id', NEW.id, 'name', NEW.name, 'imported_address', NEW.imported_address, 'imported_latitude', NEW.imported_latitude, 'imported_longitude', NEW.imported_longitude, 'inferred_latitude', NEW.inferred_latitude, 'inferred_longitude', NEW.inferred_longitude, 'location_confident', NEW.location_confident)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_customers_u AFTER UPDATE ON customers BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'customers', 'u', NEW.dc_id || '/' || NEW.id,"
    " json_object('rowid', NEW.rowid, 'dc_id', NEW.dc_id, 'id', NEW.id, 'name', NEW.name, 'imported_address', NEW.imported_address, 'imported_latitude', NEW.imported_latitude, 'imported_longitude', NEW.imported_longitude, 'inferred_latitude', NEW.inferred_latitude, 'inferred_longitude', NEW.inferred_longitude, 'location_confident', NEW.location_confident)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_customers_d AFTER DELETE ON customers BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'customers', 'd', OLD.dc_id || '/' || OLD.id,"
    " json_object('rowid', OLD.rowid, 'dc_id', OLD.dc_id, 'id', OLD.id, 'name', OLD.name, 'imported_address', OLD.imported_address, 'imported_latitude', OLD.imported_latitude, 'imported_longitude', OLD.imported_longitude, 'inferred_latitude', OLD.inferred_latitude, 'inferred_longitude', OLD.inferred_longitude, 'location_confident', OLD.location_confident)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_api_keys_i AFTER INSERT ON api_keys BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'api_keys', 'i', NEW.id,"
    " json_object('rowid', NEW.rowid, 'id', NEW.id, 'name', NEW.name, 'hash', hex(NEW.hash), 'all_dcs', NEW.all_dcs, 'created_ms', NEW.created_ms, 'revoked_ms', NEW.revoked_ms)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_api_keys_u AFTER UPDATE ON api_keys BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'api_keys', 'u', NEW.id,"
    " json_object('rowid', NEW.rowid, 'id', NEW.id, 'name', NEW.name, 'hash', hex(NEW.hash), 'all_dcs', NEW.all_dcs, 'created_ms', NEW.created_ms, 'revoked_ms', NEW.revoked_ms)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_api_keys_d AFTER DELETE ON api_keys BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'api_keys', 'd', OLD.id,"
    " json_object('rowid', OLD.rowid, 'id', OLD.id, 'name', OLD.name, 'hash', hex(OLD.hash), 'all_dcs', OLD.all_dcs, 'created_ms', OLD.created_ms, 'revoked_ms', OLD.revoked_ms)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_api_key_dcs_i AFTER INSERT ON api_key_dcs BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'api_key_dcs', 'i', NEW.key_id || '/' || NEW.dc_id,"
    " json_object('key_id', NEW.key_id, 'dc_id', NEW.dc_id)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_api_key_dcs_u AFTER UPDATE ON api_key_dcs BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'api_key_dcs', 'u', NEW.key_id || '/' || NEW.dc_id,"
    " json_object('key_id', NEW.key_id, 'dc_id', NEW.dc_id)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_api_key_dcs_d AFTER DELETE ON api_key_dcs BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'api_key_dcs', 'd', OLD.key_id || '/' || OLD.dc_id,"
    " json_object('key_id', OLD.key_id, 'dc_id', OLD.dc_id)); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_secrets_i AFTER INSERT ON secrets BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'secrets', 'i', NEW.name,"
    " json_object('rowid', NEW.rowid, 'name', NEW.name, 'value', hex(NEW.value))); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_secrets_u AFTER UPDATE ON secrets BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'secrets', 'u', NEW.name,"
    " json_object('rowid', NEW.rowid, 'name', NEW.name, 'value', hex(NEW.value))); END;"
    "CREATE TRIGGER IF NOT EXISTS aux_secrets_d AFTER DELETE ON secrets BEGIN"
    " INSERT INTO aux_log(seq, tbl, op, key, image) VALUES (" AUX_SEQ ", 'secrets', 'd', OLD.name,"
    " json_object('rowid', OLD.rowid, 'name', OLD.name, 'value', hex(OLD.value))); END;";
