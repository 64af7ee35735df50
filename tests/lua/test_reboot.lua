-- A restart of the controller: LM keeps state_dir (/tmp/ttlock) in RAM, so a reboot empties it
-- while LM storage stays. Through the LM scripts (each run a separate process through the LM
-- emulator; sitekit's reboot wipes the site's state_dir) against the simulator: the purge's
-- ledger (the next purge lists no lock it need not list), the month's call count (stats() and
-- site health's TTLockApiCalls) and the stay memory (a check-out after the reboot) are as
-- before; a site with persist = false loses them (the control). In one process with counting
-- callbacks: the writes to the store stay within the stated bound on a busy run (hundreds of
-- calls, ten purges), misuse raises and changes nothing, and no secret reaches the store.
-- The bound over whole simulated days (a fake clock, reboots) is tests/persist.rs.
local T = require('testlib')
local S = require('scriptsite')
local K = S.K
local json = dofile(T.env.repo .. '/tests/lm/purejson.lua')
local event, scheduled, fresh_state, new_site, concat = S.event, S.scheduled, S.fresh_state, S.new_site, S.concat
local requests, stay_memory = S.requests, S.stay_memory

local LIST = '/v3/lock/listKeyboardPwd'
local BOUND = 52          -- writes a day with persist_every_s = 1800: 48 + 4 after purges
local KEY = 'ttlock_persist_state'

local function site(name, cfg)
  local objects = concat(S.room('32/1/0', 1001, '101', { code = '48213', from = K.at(1, 14), to = K.at(4, 11) }),
    K.room_block('32/1/16', 1002, '102'),
    { { address = '33/0/2', name = 'TTLock API calls', datatype = K.dt.uint32, value = 0, tags = { 'TTLockApiCalls' } } })
  cfg = cfg or {}
  cfg.purge_dry_run = false
  return new_site(name, objects, cfg)
end

-- ttlock.stats() in a script run of the site (a process of its own, as on LM).
local function stats(dir)
  local f = dir .. '/stats-script.lua'
  K.writefile(f, "storage.set('test_stats', require('user.ttlock').module().stats())\n")
  local code, out = S.lm_run{ site = dir, script = f }
  T.eq(code, 0, 'stats script: ' .. out)
  return K.dump(S.lm_run, dir, { 'test_stats' }).storage.test_stats
end

local function snapshot(dir)
  local text = K.dump(S.lm_run, dir, { KEY }).storage[KEY]
  if type(text) ~= 'string' then return nil, text end
  return json.decode(text), text
end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

-- Before the reboot: a check-in (stay memory, ledger, gateway map) and the daily purge (every lock
-- listed in full: the ledger knows them all now).
local function a_day_before(dir)
  event(dir, 'passcode_event.lua', '32/1/0', true)
  T.ok(K.passcode_by_code(K.lock(T.get_state(), 1001), '48213'), 'checked in')
  scheduled(dir, 'purge_scheduled.lua')
  T.ok(K.log_text(dir):find('purge Room 102 (lock 1002): 0 listed (first listing)', 1, true), 'first purge lists')
  local before = stats(dir)
  T.ok(before.api_calls > 0, 'calls counted: ' .. T.show(before))
  return before
end

---------------------------------------------------------------------------------------------------

T.case('a reboot keeps the ledger, the call count and the stay memory', function()
  fresh_state()
  local dir = site('reboot')
  local before = a_day_before(dir)
  local stay = stay_memory(dir, '101')
  T.ok(stay, 'room 101 has its stay memory')
  local snap, text = snapshot(dir)
  T.ok(snap, 'a snapshot in LM storage key ' .. KEY .. ': ' .. tostring(text))
  T.eq(snap.calls, before.api_calls, 'the purge saved the count it made')
  T.ok(snap.files['ledger.json'] and snap.files['gateways.json'], 'ledger and gateway map kept')
  T.ok(snap.writes >= 2 and snap.writes <= 3, 'the first call and the purge wrote: ' .. snap.writes)
  T.eq(before.persist_writes, snap.writes, 'stats() counts the writes')
  T.eq(before.persist_bound, BOUND, 'stats() states the bound')
  -- No secret in the store: no token, no client secret, no password, no passcode digits.
  for name, s in pairs(S.secrets) do
    T.ok(not text:find(s, 1, true), name .. ' in the snapshot')
  end
  T.ok(not text:find('48213', 1, true), 'the guest code is not in the snapshot')

  local ram = K.reboot(dir)
  T.ok(not exists(ram .. '/ledger.json') and not exists(ram .. '/persist.json'), 'RAM is empty')
  T.reset_counters()

  local after = stats(dir)
  T.eq(after.api_calls, before.api_calls, 'the month\'s call count is back')
  T.eq(after.persist_writes, snap.writes, 'the day\'s writes are counted on')
  T.ok(K.log_text(dir):find('state restored from persist (saved ', 1, true), 'the restore is logged')
  T.ok(exists(ram .. '/ledger.json'), 'the ledger is back in state_dir')
  T.eq(stay_memory(dir, '101'), stay, 'the stay memory is as before')

  scheduled(dir, 'purge_scheduled.lua')
  T.eq(requests(LIST), 0, 'the purge after the reboot lists no lock: the ledger knows them')
  T.ok(K.log_text(dir):find('purge Room 102 (lock 1002): 0 known from the module\'s records, not listed', 1, true),
    'the log says why')

  -- Site health's count: the module's restored count (TTLock's own count restarted with the
  -- simulator's counters).
  scheduled(dir, 'door_events_resident.lua')
  local calls = K.dump(S.lm_run, dir, {}).values['33/0/2']
  T.ok(calls >= before.api_calls, 'TTLockApiCalls ' .. tostring(calls) .. ' >= ' .. before.api_calls)

  -- The stay goes on: the check-out finds the code on every door from the stay memory.
  event(dir, 'checkout_event.lua', '32/1/7', true)
  local st = T.get_state()
  T.eq(K.passcode_by_code(K.lock(st, 1001), '48213'), nil, 'code removed from the room')
  T.eq(K.passcode_by_code(K.lock(st, 2001), '48213'), nil, 'code removed from the main door')
  T.eq(requests(LIST), 0, 'no listing needed')

  local final = stats(dir)
  T.ok(final.persist_writes <= BOUND, 'writes today within the bound: ' .. final.persist_writes)
  T.eq(K.alert_text(dir), '', 'no alert')
  S.remember_tokens()
end)

T.case('control: with persist = false a reboot loses the ledger and the count', function()
  fresh_state()
  local dir = site('reboot-control', { persist = false })
  local before = a_day_before(dir)
  T.eq(before.persist_writes, nil, 'no persist store: no persist figures')
  T.eq((snapshot(dir)), nil, 'nothing in LM storage')
  K.reboot(dir)
  T.reset_counters()
  T.eq(stats(dir).api_calls, 0, 'the count is lost')
  scheduled(dir, 'purge_scheduled.lua')
  T.ok(requests(LIST) >= 3, 'every lock listed again: ' .. requests(LIST))
  -- The stay memory lives in LM storage either way.
  T.ok(stay_memory(dir, '101'), 'the stay memory stays')
  S.remember_tokens()
end)

---------------------------------------------------------------------------------------------------
-- One process, counting callbacks.

local ttlock = require('ttlock')
local FIX = T.fixture()

local function configure(store, extra)
  local o = {
    client_id = FIX.app.client_id, client_secret = FIX.app.client_secret,
    api_base = T.env.base_url, ca_file = T.env.ca_file, state_dir = store.dir,
    retry_backoff_ms = 10, timeout_s = 10,
    username = FIX.users[1].username, password_md5 = FIX.users[1].password_md5,
    persist = { load = function(key) store.loads = store.loads + 1; return store.kept[key] end,
                save = function(key, text) store.saves = store.saves + 1; store.kept[key] = text end },
    log = function(line) store.lines[#store.lines + 1] = line end,
  }
  for k, v in pairs(extra or {}) do o[k] = v end
  return ttlock.configure(o)
end

local function new_store()
  return { dir = T.tmpdir() .. '/state', kept = {}, loads = 0, saves = 0, lines = {} }
end

T.case('a busy run writes within the bound: one save, then one per purge up to four', function()
  fresh_state()
  local store = new_store()
  configure(store)
  for i = 1, 150 do
    assert(ttlock.battery{ lock_id = 1001 + (i % 2) })
  end
  T.eq(store.loads, 1, 'loaded once, at the first call')
  T.eq(store.saves, 1, 'saved once: the interval has not passed')
  for _ = 1, 10 do
    local r = assert(ttlock.purge_expired{ lock_ids = { 1001, 1002, 2001 }, full_sweep_days = 0, dry_run = true })
    T.eq(#r.locks, 3)
  end
  T.eq(store.saves, 5, 'four purges saved at once, the other six wait for the interval')
  local s = ttlock.stats()
  T.eq(s.persist_writes, 5)
  T.eq(s.persist_bound, BOUND)
  T.ok(s.persist_saved_ms and s.persist_saved_ms <= os.time() * 1000 + 1000, 'persist_saved_ms')
  local snap = json.decode(store.kept.state)
  T.eq(snap.writes, 5, 'the snapshot carries the day\'s count')
  T.ok(snap.calls > 150 and snap.calls <= s.api_calls, 'count ' .. snap.calls .. ' of ' .. s.api_calls)
  for _, tok in ipairs(T.get_state().tokens or {}) do
    T.ok(not store.kept.state:find(tok.access_token, 1, true), 'no access token in the snapshot')
    T.ok(not store.kept.state:find(tok.refresh_token, 1, true), 'no refresh token in the snapshot')
  end
  T.ok(not store.kept.state:find(FIX.app.client_secret, 1, true), 'no client secret')

  -- A restart of the process with an emptied state_dir: restored from the store, not saved again.
  T.run('rm -rf ' .. T.q(store.dir))
  configure(store)
  T.eq(ttlock.stats().api_calls, snap.calls, 'restored count')
  T.eq(store.loads, 2)
  T.eq(store.saves, 5, 'nothing changed: nothing written')
end)

T.case('misuse raises and changes nothing', function()
  local store = new_store()
  configure(store)
  local raises = function(extra, what)
    local ok, e = pcall(configure, store, extra)
    T.ok(not ok, what .. ' raises')
    T.ok(tostring(e):find('^ttlock: '), what .. ': ' .. tostring(e))
    return tostring(e)
  end
  T.ok(raises({ persist = { load = function() end } }, 'persist without save'):find('persist.save must be a function', 1, true))
  T.ok(raises({ persist = 'storage' }, 'persist not a table'):find('persist', 1, true))
  T.ok(raises({ persist_every_s = 60 }, 'persist_every_s too small'):find('persist_every_s', 1, true))
  T.ok(raises({ persist_every_s = 1800.5 }, 'persist_every_s not whole'):find('persist_every_s', 1, true))
  T.eq(store.loads, 0, 'configure touches no store')
  -- A load that returns something other than text: the call raises before anything is sent.
  fresh_state()
  local bad = new_store()
  configure(bad, { persist = { load = function() return 42 end, save = function() error('never') end } })
  local ok, e = pcall(ttlock.battery, { lock_id = 1001 })
  T.ok(not ok and tostring(e):find('persist.load must return a string or nil', 1, true), tostring(e))
  T.eq(T.total_requests(), 0, 'nothing sent')
  -- A failing save is logged; the call's result stands.
  local failing = new_store()
  configure(failing, { persist = { load = function() return nil end, save = function() error('disk full', 0) end } })
  T.ok(ttlock.battery{ lock_id = 1001 }, 'the call works')
  T.ok(table.concat(failing.lines, '\n'):find('state not saved to persist: persist.save failed: disk full', 1, true),
    table.concat(failing.lines, '\n'))
  -- persist_every_s sets the bound.
  local hourly = new_store()
  configure(hourly, { persist_every_s = 3600 })
  T.eq(ttlock.stats().persist_bound, 24 + 4)
end)

T.done()
