-- Scheduled script, every 5 minutes: retries the doors waiting in the queue (a checked-out
-- guest's code a door could not be reached to remove; with common_doors_required = false, a
-- common door that could not get a guest's code) and writes the rooms' +9 status when they are
-- done. Doors wait longer between tries each time (5 min doubling, at most 4 h): few calls.
require('user.ttlock').retry_pending()
