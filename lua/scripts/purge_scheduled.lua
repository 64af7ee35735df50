-- TTLock daily purge: LM scheduled script (e.g. every day at 03:00).
-- First syncs the staff codes of user.ttlock_config (staff_codes; nothing to do costs no call),
-- then deletes codes that ended more than purge_grace_s ago on every lock found on PassCode objects
-- and every common door; with purge_dry_run = true (the default) it only logs what it would delete.
-- The purge never deletes a live guest's code or a staff code.
local ttlock = require('user.ttlock')
ttlock.staff_sync_daily()
ttlock.purge_daily()
