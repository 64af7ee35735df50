-- TTLock site settings: the only place a site's TTLock settings live.
-- LM: Scripting -> User libraries -> add a library named "ttlock_config" with this text.
-- The scripts load it with require('user.ttlock_config'); nothing else holds these values,
-- so the client secret exists once on the controller (not in three copies as in the forum scripts).
return {
  -- From your application on the TTLock developer platform (euopen.ttlock.com).
  client_id = 'YOUR_CLIENT_ID',
  client_secret = 'YOUR_CLIENT_SECRET',

  -- EU/international accounts: euapi; mainland China accounts: https://cnapi.ttlock.com
  api_base = 'https://euapi.ttlock.com',

  -- The TTLock APP account that administers the locks (not the developer account) and the
  -- lowercase md5 hex of its password (make it on the LM: log(require('encdec').md5('...')) in a
  -- one-off script; README "Before you start"). A new site needs them; with them a rejected
  -- refresh token is recovered by logging in again. Only a site moving from the forum scripts
  -- may leave them nil: the tokens in the objects 'TTLock Access Token' / 'TTLock Refresh Token'
  -- are taken over once, and work until TTLock rejects them.
  username = nil,
  password_md5 = nil,

  -- Doors every guest code also goes to (main entrance, garage, ...). The name is what the
  -- status text (+9) and the log show. codes: how the door gets codes, as room_codes below.
  common_doors = {
    { lock_id = 7654321, name = 'Main door', codes = 'gateway' },
  },

  -- How room doors get guest codes: 'gateway' (a custom code through the lock's gateway),
  -- 'offline' (TTLock's own random code, no gateway needed: TTLock chooses the digits, which
  -- then go to +1 and to the common doors), or 'auto' (offline when no gateway reaches the
  -- lock). A room's +0 comment can say otherwise: 'LockId:1234567 Codes:offline'.
  room_codes = 'gateway',

  -- true: a check-in is all-or-nothing (a common door that fails undoes the room).
  -- false: the guest gets the code on the doors that work; a common door whose gateway is
  -- offline or busy waits in a queue that the scheduled script retry_scheduled.lua retries.
  common_doors_required = true,

  -- Daily purge: delete codes whose end passed more than this many seconds ago.
  purge_grace_s = 86400,
  -- Start safe: only log what would be deleted. Set to false once the log looks right.
  purge_dry_run = true,
  -- API budget (TTLock: about 5,000 calls a month): a lock whose expired codes the module knows
  -- is listed and purged once every this many days (fractions allowed), not every day. An
  -- expired code opens nothing; it only takes room in the lock's 250-code memory. A lock is
  -- purged at once, whatever this says, when the codes known on it reach purge_capacity_margin
  -- (default 200), and every lock is listed in full once a week anyway. 1 (or nil): every day,
  -- as before. 7 lists each lock once a week: on a simulated 40-room hotel the purge makes 185
  -- calls a week instead of 223 (docs/lua-api.md, "What a stay costs"). 'budget': the monthly
  -- API budget (api_budget below) decides, from every day (large budgets) to weekly.
  purge_every_days = 'budget',
  -- purge_capacity_margin = 200,   -- keep it below 250 by more than a day's check-ins

  -- Door events (resident script door_events_resident.lua): the TTLock account's API calls a
  -- month. Polls of door records and the site health share what check-ins, stay changes and the
  -- purge leave; some accounts are capped at about 5000.
  api_budget = 5000,
  -- Low-battery alarm (LockBatteryLow objects and an alert) at or below this percent.
  battery_low = 20,
  -- Records reaching TTLock up to this long after they happened are still seen (seconds).
  events_lookback_s = 86400,
  -- Alert this many days before the access token ends when no username/password can renew it.
  token_warn_days = 14,

  -- Staff codes (cleaning, maintenance, manager): the daily script adds them to the doors, changes
  -- them when this list changes, and removes the ones it made once they leave this list (or their
  -- period ends). It never touches a code it did not make. doors: 'rooms' (every room lock of the
  -- PassCode objects), 'common' (common_doors), 'all', or a list of lock ids. Without valid_from /
  -- valid_to ('YYYY-MM-DD HH:MM', local time) a code is permanent. A code the same as a guest's on
  -- a door is reported (log and alert), not forced: choose another. Codes in quotes (leading zeros).
  -- TTLock cannot give a chosen code a weekly schedule (README "Staff codes").
  -- staff_codes = {
  --   { name = 'Cleaning', code = '246810', doors = 'rooms' },
  --   { name = 'Maintenance', code = '135792', doors = 'all' },
  --   { name = 'Manager', code = '975310', doors = { 7654321 } },
  --   { name = 'Summer help', code = '864209', doors = 'common',
  --     valid_from = '2027-06-01 08:00', valid_to = '2027-08-31 18:00' },
  -- },
  -- staff_dry_run = true,          -- log what the sync would do, send nothing

  -- Folder holding ttlock.so (uploaded over FTP), appended to package.cpath.
  cpath = '/home/ftp/ttlock/?.so',

  -- true: one LM log line for every successful TTLock request (log_level = 'debug'); failures,
  -- retries and token renewals are always logged.
  log_requests = false,

  -- Any other ttlock.configure option is passed through, for example:
  -- state_dir = '/tmp/ttlock',   -- refresh lock file, passcode ledger, API call counter
  -- timeout_s = 30, connect_timeout_s = 10, retries = 2,
  -- ca_file = nil,               -- extra PEM CA to trust (a TLS-inspecting proxy)
}
