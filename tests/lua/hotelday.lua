-- A recorded day of a 40-room hotel at 80 % occupancy with 3-night stays, through the LM scripts
-- (each run a separate process through the LM emulator) against the simulator: 32 guests checked
-- in, a day of the door events resident script (its clock moved 5 minutes a run, in half-hour
-- spans; before each span the guests due in it type their code), the day's turnover (11
-- check-outs and 11 check-ins) and the daily purge. The calls are the simulator's counters.
-- Shared by tests/lua/test_door_events.lua (the budget over a month: 30 such days) and the
-- benchmark (calls per day against the budget).
local T = require('testlib')
local S = require('scriptsite')
local K = S.K
local ga_plus, room, concat, fresh_state, new_site = S.ga_plus, S.room, S.concat, S.fresh_state, S.new_site

local H = {}
local MIN = 60 * 1000

local function site_objects()
  return {
    { address = '33/0/0', name = 'TTLock OK', datatype = K.dt.bool, value = false, tags = { 'TTLockOK' } },
    { address = '33/0/1', name = 'TTLock token days', datatype = K.dt.uint32, value = 0, tags = { 'TTLockTokenDays' } },
    { address = '33/0/2', name = 'TTLock API calls', datatype = K.dt.uint32, value = 0, tags = { 'TTLockApiCalls' } },
    { address = '33/0/3', name = 'GW floor 1 online', datatype = K.dt.bool, value = false,
      comment = 'GatewayId:1', tags = { 'GatewayOnline' } },
    { address = '33/0/4', name = 'GW floor 2 online', datatype = K.dt.bool, value = false,
      comment = 'GatewayId:2', tags = { 'GatewayOnline' } },
  }
end

local function keypad(lock_id, code, at_ms)
  local res, http = T.admin('POST', '/keypad', T.object{ lock_id = lock_id, code = code, at_ms = at_ms })
  T.eq(http, 200, 'keypad answered: ' .. tostring(type(res) == 'table' and T.json(res) or res))
  return res
end

local count = T.count

-- Room i's block base (16 addresses apart).
local function ga_of(i)
  return string.format('34/%d/%d', math.floor((i - 1) / 16), ((i - 1) % 16) * 16)
end

-- A 40-room hotel (rooms 3001..3040 on two gateways, the main door 2001), 32 rooms occupied.
local function hotel(budget, edit)
  local st = fresh_state(function(st)
    for i = 1, 40 do
      st.locks[#st.locks + 1] = { lock_id = 3000 + i, alias = 'Room ' .. (300 + i), gateway_ids = { (i % 2) + 1 },
        battery = 90, open_state = 0, remote_unlock = true, passcodes = {} }
    end
    st.options.gateway_hold_ms = 0
    if edit then edit(st) end
  end)
  local objects = {}
  -- 80 % occupancy with 3-night stays: a third of the guests are due within the next hour, a
  -- third tomorrow, a third the day after; each comes 0 to 8 hours after the arrival time.
  local now = os.time()
  local next_hour = now - now % 3600 + 3600
  local arrivals = {}
  for i = 1, 40 do
    local ga = ga_of(i)
    local from = next_hour + ((i - 1) % 3) * 86400
    local code = string.format('%05d', 48000 + i * 7)
    if i <= 32 then
      arrivals[#arrivals + 1] = { lock_id = 3000 + i, code = code, at_ms = (from + (i * 7919) % (8 * 3600)) * 1000 }
    end
    for _, o in ipairs(room(ga, 3000 + i, tostring(300 + i), { code = code,
      from = from, to = from + 3 * 86400 - 3 * 3600 })) do
      objects[#objects + 1] = o
    end
  end
  local dir = new_site('hotel-' .. budget, concat(objects, site_objects()),
    { api_budget = budget, purge_every_days = 'budget' })
  return dir, arrivals
end

-- The resident script's loop in one process (as LM runs a resident script), its clock moved by
-- `step_min` minutes per run over [from_min, to_min) after `t0`; returns the doors it polled.
local function polls_between(dir, t0, from_min, to_min, step_min)
  local f = dir .. '/door-events-span.lua'
  K.writefile(f, string.format([[
local M = require('user.ttlock')
local polled = 0
for m = %d, %d - 1, %d do
  local r = M.door_events(%.0f + m * 60000)
  if r then polled = polled + r.polled end
end
print('polled=' .. polled)
]], from_min, to_min, step_min, t0))
  local code, out = S.lm_run{ site = dir, script = f }
  T.eq(code, 0, 'door events span; output: ' .. out .. '\nlog: ' .. K.log_text(dir))
  return tonumber(out:match('polled=(%d+)'))
end

-- A day of the resident script in half-hour spans; before each span the guests whose arrival
-- falls in it type their code on their room door (at their arrival time), so awaited doors stop
-- being awaited as in a real day. Returns the doors polled.
local function day_of_polls(dir, t0, arrivals)
  local polled = 0
  for span = 0, 47 do
    local from_min, to_min = span * 30, span * 30 + 30
    for _, a in ipairs(arrivals) do
      if a.at_ms >= t0 + from_min * MIN and a.at_ms < t0 + to_min * MIN then
        T.eq(keypad(a.lock_id, a.code, a.at_ms).opens, true, 'guest of lock ' .. a.lock_id .. ' opens')
      end
    end
    polled = polled + polls_between(dir, t0, from_min, to_min, 5)
  end
  return polled
end

local function calls_by_job()
  local c = T.counters().requests or {}
  local function n(p) return c['/v3/' .. p] or 0 end
  local jobs = {
    stays = n('keyboardPwd/add') + n('keyboardPwd/delete') + n('keyboardPwd/change') + n('keyboardPwd/get'),
    purge = n('lock/listKeyboardPwd'),
    health = n('lock/list') + n('gateway/list'),
    polls = n('lockRecord/list'),
  }
  local total = 0
  for _, v in pairs(c) do total = total + v end
  jobs.total = total
  return jobs
end


-- LM storage writes of the site by key (`since`: counts to subtract), and their total.
function H.storage_writes(dir, since)
  local out, total = {}, 0
  for key in (K.readfile(dir .. '/storage-writes.txt') or ''):gmatch('[^\n]+') do
    local k = key:match('^ttlock_cursor_') and 'ttlock_cursor_*' or key
    out[k] = (out[k] or 0) + 1
  end
  for k, n in pairs(out) do
    out[k] = n - ((since or {})[k] or 0)
    total = total + out[k]
  end
  out.total = total
  return out
end

-- One recorded day on `budget` calls a month: the figures (calls by job, the month they make).
function H.day(budget)
  local dir, arrivals = hotel(budget)
  for i = 1, 32 do S.event(dir, 'passcode_event.lua', ga_of(i), true) end
  -- The first purge lists every lock in full (the module knows no lock yet); after it a lock is
  -- listed again at its weekly sweep: a seventh of that first purge a day, added below.
  S.scheduled(dir, 'purge_scheduled.lua')
  local sweep = calls_by_job().purge
  T.reset_counters()
  local writes_before = H.storage_writes(dir)
  local t0 = os.time() * 1000
  local polled = day_of_polls(dir, t0, arrivals)
  local writes = H.storage_writes(dir, writes_before)
  local day = calls_by_job()
  for i = 1, 11 do S.event(dir, 'checkout_event.lua', ga_plus(ga_of(i), 7), true) end
  for i = 33, 40 do S.event(dir, 'passcode_event.lua', ga_of(i), true) end
  for i = 1, 3 do S.event(dir, 'passcode_event.lua', ga_of(i), true) end
  S.scheduled(dir, 'purge_scheduled.lua')
  local f = calls_by_job()
  f.turnover = f.total - day.total
  f.purge = f.purge + sweep / 7
  f.total = f.total + sweep / 7
  f.month = f.total * 30
  f.budget, f.polled, f.dir, f.writes = budget, polled, dir, writes
  f.arrivals = count(K.log_text(dir), 'arrived: first opened')
  return f
end

function H.text(f)
  return string.format('budget %d: a day = %.0f calls (polls %d in %d door polls, health %d, stays %d, purge %.0f'
    .. ' with the weekly sweep); a month = %.0f (%.0f %% of the budget); %d arrivals found; LM storage writes'
    .. ' by the door events script in the day: %d (state %d, cursors %d)',
    f.budget, f.total, f.polls, f.polled, f.health, f.stays, f.purge, f.month, 100 * f.month / f.budget, f.arrivals,
    (f.writes.ttlock_events or 0) + (f.writes['ttlock_cursor_*'] or 0), f.writes.ttlock_events or 0,
    f.writes['ttlock_cursor_*'] or 0)
end

H.site_objects, H.keypad, H.count = site_objects, keypad, count

return H
