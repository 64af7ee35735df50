-- Builds the LM site of the forum-fidelity test (tests/forum_fidelity.rs) and prints the guest
-- window the way the forum's check-in script computes it (os.time of the local date and time,
-- times 1000), so the test compares with the same interpreter's arithmetic.
--
--   <interp> tests/forum/make_site.lua SITE_DIR ACCESS_TOKEN REFRESH_TOKEN PASSCODE
-- prints: start_ms end_ms start_day start_month end_day end_month
--
-- The room block follows the forum post: base 1/1/0 (tags PassCode and Room_101, comment
-- LockId:1001), +1 passcode, +2 name, +3/+4 arrival date/time, +5/+6 departure date/time,
-- +8 last passcode id, +9 status. Room 102 (lock 1002) has a trigger only (for the purge), the
-- main door (lock 2001) an UnlockDoor object, and the tokens live in the two named objects.

local here = arg[0]:match('^(.*)/[^/]*$') or '.'
local lm = dofile(here .. '/../lm/lm.lua')
local dt = lm.dt

local site, access, refresh, passcode = arg[1], arg[2], arg[3], arg[4]
assert(site and access and refresh and passcode, 'usage: make_site.lua SITE AT RT PASSCODE')

-- Arrival tomorrow 15:00, departure in three days at 11:00, local time.
local now = os.time()
local function day(offset)
  local d = os.date('*t', now + offset * 86400)
  return { day = d.day, month = d.month, year = d.year }
end
local sd, ed = day(1), day(3)
local st = { day = 0, hour = 15, minute = 0, second = 0 }
local et = { day = 0, hour = 11, minute = 0, second = 0 }

lm.site_create(site, {
  { address = '1/1/0', name = 'Room 101 passcode trigger', datatype = dt.bool, value = false,
    comment = 'LockId:1001', tags = { 'PassCode', 'Room_101' } },
  { address = '1/1/1', name = 'Room 101 passcode', datatype = dt.string, value = passcode },
  { address = '1/1/2', name = 'Room 101 guest name', datatype = dt.string, value = '' },
  { address = '1/1/3', name = 'Room 101 valid from date', datatype = dt.date, value = sd },
  { address = '1/1/4', name = 'Room 101 valid from time', datatype = dt.time, value = st },
  { address = '1/1/5', name = 'Room 101 valid to date', datatype = dt.date, value = ed },
  { address = '1/1/6', name = 'Room 101 valid to time', datatype = dt.time, value = et },
  { address = '1/1/8', name = 'Room 101 last passcode id', datatype = dt.uint32, value = 0 },
  { address = '1/1/9', name = 'Room 101 status', datatype = dt.text, value = '' },
  { address = '1/2/0', name = 'Room 102 passcode trigger', datatype = dt.bool, value = false,
    comment = 'LockId:1002', tags = { 'PassCode', 'Room_102' } },
  { address = '2/1/0', name = 'Main door unlock', datatype = dt.bool, value = false,
    comment = 'LockId:2001', tags = { 'UnlockDoor' } },
  { address = '32/1/1', name = 'TTLock Access Token', datatype = dt.text, value = access },
  { address = '32/1/2', name = 'TTLock Refresh Token', datatype = dt.text, value = refresh },
})

local function ms(d, t)
  return os.time({ year = d.year, month = d.month, day = d.day,
                   hour = t.hour, min = t.minute, sec = t.second }) * 1000
end
print(string.format('%.0f %.0f %d %d %d %d', ms(sd, st), ms(ed, et), sd.day, sd.month, ed.day, ed.month))
