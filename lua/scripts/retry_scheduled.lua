-- Scheduled script, every 5 minutes: retries the common doors that could not get a guest's code
-- (sites with common_doors_required = false) and writes the rooms' +9 status when they do.
-- Doors wait longer between tries each time (5 min doubling, at most 4 h), so this costs few calls.
require('user.ttlock').retry_pending()
