-- TTLock remote unlock: LM event script on tag "UnlockDoor" (a boolean object whose comment holds
-- LockId:<digits>). Writing true opens that door; the outcome goes to the LM log.
require('user.ttlock').unlock_event(event)
