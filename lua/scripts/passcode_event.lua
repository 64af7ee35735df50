-- TTLock guest passcode: LM event script on tag "PassCode" (the +0 trigger of each room block).
-- true: adds the code of +1 to the room lock (LockId:<digits> in the comment) and the common doors
-- of user.ttlock_config, valid from +3/+4 to +5/+6; name to +2, passcode id to +8, outcome to +9.
-- false: a fresh random 5-digit code into +1. true again during a live stay changes it (dates,
-- code). Execution mode: "Normal" (every event runs; a second one waits for the first).
require('user.ttlock').passcode_event(event)
