-- TTLock daily purge: LM scheduled script (e.g. every day at 03:00).
-- Deletes codes that ended more than purge_grace_s ago on every lock found on PassCode objects and
-- every common door; with purge_dry_run = true (the default) it only logs what it would delete.
require('user.ttlock').purge_daily()
