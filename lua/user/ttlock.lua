-- TTLock user library for LogicMachine.
-- LM: Scripting -> User libraries -> add a library named "ttlock" with this text; scripts load it
-- with require('user.ttlock'). It keeps the forum scripts' object conventions (room block +0..+9,
-- tags PassCode / Room_<name> / UnlockDoor, comment LockId:<digits>) and puts the work in the
-- native module ttlock.so. Every site setting comes from require('user.ttlock_config').
local M = {}

M.TOKEN_KEY = 'ttlock_tokens'                       -- LM storage key of the token record
M.LEGACY_ACCESS_OBJ = 'TTLock Access Token'         -- objects the forum scripts kept tokens in
M.LEGACY_REFRESH_OBJ = 'TTLock Refresh Token'
M.STATUS_MAX = 250                                  -- bytes an LM text object (dt.text) holds
M.STAY_KEY_PREFIX = 'ttlock_stay_'                  -- LM storage key of a room's stay memory + room name
M.EVENTS_KEY = 'ttlock_events'                      -- LM storage key of the door events poller's state
M.CURSOR_KEY_PREFIX = 'ttlock_cursor_'              -- LM storage key of a lock's records cursor + lock id
M.PERSIST_KEY_PREFIX = 'ttlock_persist_'            -- LM storage key of the module's kept state + key ('state')
M.DEFAULT_API_BUDGET = 5000                         -- calls a month, when the settings give none

-- Offsets of a room block, from the trigger's address.
M.OFF = { trigger = 0, code = 1, name = 2, from_date = 3, from_time = 4, to_date = 5, to_time = 6,
          checkout = 7, passcode_id = 8, status = 9 }

-- Settings that are the scripts' own; everything else goes to ttlock.configure.
local OWN_KEYS = { common_doors = true, purge_grace_s = true, purge_dry_run = true, cpath = true,
                   log_requests = true, room_codes = true, common_doors_required = true,
                   api_budget = true, battery_low = true, events_lookback_s = true,
                   token_warn_days = true, purge_every_days = true, purge_capacity_margin = true }

-- How a door gets codes: through its gateway, TTLock's offline codes, or offline when no gateway
-- reaches it.
local CODE_MODES = { gateway = true, offline = true, auto = true }

---------------------------------------------------------------------------------------------------
-- Small helpers (pure; exported so they can be tested without a controller)

local function trim(s)
  return (tostring(s):gsub('^%s+', ''):gsub('%s+$', ''))
end

local function nonempty(s)
  if type(s) ~= 'string' then return nil end
  s = trim(s)
  if s == '' then return nil end
  return s
end

-- Cut to at most n bytes without splitting a UTF-8 character (the status may hold an en dash).
function M.clip(s, n)
  n = n or M.STATUS_MAX
  if #s <= n then return s end
  local cut = n - 3
  while cut > 0 and s:byte(cut + 1) and s:byte(cut + 1) >= 0x80 and s:byte(cut + 1) < 0xC0 do
    cut = cut - 1
  end
  return s:sub(1, cut) .. '...'
end

-- 'a/b/c' -> main*2048 + middle*256 + sub (the integer form event.dstraw and offsets use).
function M.ga_to_raw(ga)
  if type(ga) == 'number' then return ga end
  local a, b, c = tostring(ga):match('^(%d+)/(%d+)/(%d+)$')
  if not a then return nil end
  return tonumber(a) * 2048 + tonumber(b) * 256 + tonumber(c)
end

function M.raw_to_ga(raw)
  raw = tonumber(raw)
  if not raw then return '?' end
  return string.format('%d/%d/%d', math.floor(raw / 2048), math.floor(raw / 256) % 8, raw % 256)
end

-- 'Codes:offline' (or gateway, auto) in an object comment, if any.
function M.codes_from_comment(comment)
  if type(comment) ~= 'string' then return nil end
  return comment:match('Codes:%s*(%a+)')
end

-- The number after '<label>:' in an object comment (anywhere in the comment).
local function id_in_comment(comment, label)
  if type(comment) ~= 'string' then return nil end
  local digits = comment:match(label .. ':%s*(%d+)')
  return digits and tonumber(digits) or nil
end

-- Lock id from an object comment 'LockId:<digits>'.
function M.lock_id_from_comment(comment) return id_in_comment(comment, 'LockId') end

-- Gateway id from an object comment 'GatewayId:<digits>' (gateways have no LockId).
function M.gateway_id_from_comment(comment) return id_in_comment(comment, 'GatewayId') end

-- The tags of an object: grp.gettags where the firmware has it (portable), else the tagcache
-- text (tags separated by commas).
function M.tags_of(obj)
  if type(obj) ~= 'table' then return {} end
  if type(obj.tagcache) == 'string' and obj.tagcache ~= '' then
    local tags = {}
    for t in obj.tagcache:gmatch('[^,]+') do
      t = nonempty(t)
      if t then tags[#tags + 1] = t end
    end
    return tags
  end
  local g = rawget(_G, 'grp')
  if g and g.gettags and obj.address then
    local ok, tags = pcall(g.gettags, obj.address)
    if ok and type(tags) == 'table' then return tags end
  end
  return {}
end

-- Room name: the WHOLE text after 'Room_' in a tag ('Room_101' -> '101', 'Room_Suite 3' ->
-- 'Suite 3'). The forum script kept only two characters, so rooms 101 and 102 both became '10'.
-- Accepts an object (tags or tagcache), a list of tags or a tagcache string.
function M.room_name(x)
  local tags
  if type(x) == 'string' then
    tags = M.tags_of({ tagcache = x })
  elseif type(x) == 'table' and (x.tagcache ~= nil or x.address ~= nil or x.comment ~= nil) then
    tags = M.tags_of(x)
  elseif type(x) == 'table' then
    tags = x
  else
    return nil
  end
  for _, t in ipairs(tags) do
    local room = type(t) == 'string' and t:match('^%s*Room_(.-)%s*$')
    if room and room ~= '' then return room end
  end
  return nil
end

-- '01.12 14:00' in local time.
function M.fmt_time(ms)
  return os.date('%d.%m %H:%M', math.floor(ms / 1000))
end

function M.fmt_window(from_ms, to_ms)
  return M.fmt_time(from_ms) .. '\226\128\147' .. M.fmt_time(to_ms)  -- en dash
end

-- What an error means and what to do, for a status text or an alert: the module's advice.
function M.describe_error(err)
  if type(err) ~= 'table' then return tostring(err) end
  return tostring(err.advice or err.message or err.code)
end

-- Log line detail: the advice plus the module's longer message (never holds a secret).
local function err_detail(err)
  if type(err) ~= 'table' then return tostring(err) end
  local text = M.describe_error(err)
  local msg = err.message and tostring(err.message)
  if msg and msg ~= '' and not text:find(msg, 1, true) then text = text .. ' (' .. msg .. ')' end
  return text
end
M.err_detail = err_detail

---------------------------------------------------------------------------------------------------
-- LM glue

local function lm_log(line)
  local f = rawget(_G, 'log')
  if f then f('TTLock: ' .. line) end
end
M.log = lm_log

local function lm_alert(line)
  local f = rawget(_G, 'alert')
  if f then f('%s', 'TTLock: ' .. line) end
end

-- The module's diagnostics into LM's log (the module's log_level decides which lines come).
local function module_log(line)
  lm_log((tostring(line):gsub('^ttlock: ', '')))
end

local settings_cache
function M.settings()
  if not settings_cache then
    local s = require('user.ttlock_config')
    if type(s) ~= 'table' then
      error('ttlock: user.ttlock_config must return a table of settings', 0)
    end
    settings_cache = s
  end
  return settings_cache
end

-- Appends p to package.cpath unless it is there already (never replaces: a host that already
-- found the module keeps it).
function M.append_cpath(p)
  if type(p) ~= 'string' or p == '' then return end
  for entry in (package.cpath .. ';'):gmatch('([^;]*);') do
    if entry == p then return end
  end
  local cp = package.cpath
  if cp ~= '' and cp:sub(-1) ~= ';' then cp = cp .. ';' end
  package.cpath = cp .. p
end

-- The common doors of the settings as { {lock_id=n, name=s}, ... } (bad entries are logged).
function M.common_doors()
  local out = {}
  local list = M.settings().common_doors
  if type(list) ~= 'table' then return out end
  for i, d in ipairs(list) do
    local id = type(d) == 'table' and tonumber(d.lock_id) or tonumber(d)
    local codes = type(d) == 'table' and d.codes or nil
    if codes ~= nil and not CODE_MODES[codes] then
      lm_log('common_doors entry ' .. i .. ': codes must be gateway, offline or auto: using gateway')
      codes = nil
    end
    if id then
      out[#out + 1] = { lock_id = id, codes = codes,
                        name = type(d) == 'table' and nonempty(d.name) or ('Door ' .. string.format('%.0f', id)) }
    else
      lm_log('common_doors entry ' .. i .. ' has no lock_id: ignored')
    end
  end
  return out
end

---------------------------------------------------------------------------------------------------
-- Tokens: kept in LM storage (persistent, never on the bus or in a visualisation object).

local function read_stored_tokens()
  local t = storage.get(M.TOKEN_KEY)
  if type(t) ~= 'table' then return nil end
  local at, rt = nonempty(t.access_token), nonempty(t.refresh_token)
  if not at and not rt then return nil end
  return { access_token = at, refresh_token = rt, expires_at_ms = tonumber(t.expires_at_ms) }
end

M.token_store = {
  load = read_stored_tokens,
  save = function(tokens)
    local rec = { access_token = tokens.access_token, refresh_token = tokens.refresh_token,
                  expires_at_ms = tokens.expires_at_ms }
    local ok, err = storage.set(M.TOKEN_KEY, rec)
    if ok == false then
      lm_log('could not save the new tokens in LM storage: ' .. tostring(err))
    end
  end,
}

local function legacy_token(name)
  local v = grp.getvalue(name)
  return nonempty(v)
end

local function clear_legacy_objects()
  for _, name in ipairs({ M.LEGACY_ACCESS_OBJ, M.LEGACY_REFRESH_OBJ }) do
    if legacy_token(name) then grp.update(name, '') end
  end
end

-- Takes the tokens over from the forum scripts' objects when storage has none, then clears the
-- objects. Returns true when it moved tokens.
function M.migrate_tokens()
  local at, rt = legacy_token(M.LEGACY_ACCESS_OBJ), legacy_token(M.LEGACY_REFRESH_OBJ)
  if not at and not rt then return false end
  if read_stored_tokens() then
    -- Storage is the master; a token in these objects is a leftover or an old script still
    -- running: clear it so no token stays visible.
    clear_legacy_objects()
    lm_log('the objects "' .. M.LEGACY_ACCESS_OBJ .. '" / "' .. M.LEGACY_REFRESH_OBJ
      .. '" held a token although LM storage has tokens: cleared them. Disable any old TTLock'
      .. ' script that still writes them.')
    return false
  end
  local ok, err = storage.set(M.TOKEN_KEY, { access_token = at, refresh_token = rt })
  local back = read_stored_tokens()
  if ok == false or not back or back.access_token ~= at or back.refresh_token ~= rt then
    -- Keep the objects: clearing them now would lose the only copy.
    lm_log('could not move the tokens into LM storage (' .. tostring(err or 'read-back differs')
      .. '); the objects keep them for now')
    return false
  end
  clear_legacy_objects()
  lm_log('moved the tokens from the objects "' .. M.LEGACY_ACCESS_OBJ .. '" / "'
    .. M.LEGACY_REFRESH_OBJ .. '" into LM storage (key ' .. M.TOKEN_KEY .. ') and cleared the objects')
  return true
end

-- Drops the stored tokens (e.g. to take over freshly pasted tokens from the two objects, or to
-- force a login with username/password_md5 on the next call).
function M.forget_tokens()
  storage.delete(M.TOKEN_KEY)
end

---------------------------------------------------------------------------------------------------
-- Stay memory: one LM storage key per room (ttlock_stay_<room>), read and written by the module's
-- stay operations through these three functions.

-- The rooms of the PassCode objects (each once).
function M.rooms()
  local out, seen = {}, {}
  for _, obj in ipairs(grp.tag('PassCode') or {}) do
    local room = M.room_name(obj)
    if room and not seen[room] then
      seen[room] = true
      out[#out + 1] = room
    end
  end
  return out
end

-- storage.set for the module's store callbacks: a failed write raises (the module reports it).
local function store_value(key, value)
  local ok, err = storage.set(key, value)
  if ok == false then error('could not write LM storage key ' .. key .. ': ' .. tostring(err), 0) end
end

M.stay_store = {
  rooms = function() return M.rooms() end,
  load = function(room)
    local v = storage.get(M.STAY_KEY_PREFIX .. room)
    if type(v) == 'table' then return v end
    return nil
  end,
  save = function(room, record)
    local key = M.STAY_KEY_PREFIX .. room
    if record == nil then
      storage.delete(key)
      return
    end
    store_value(key, record)
  end,
}

---------------------------------------------------------------------------------------------------
-- What must outlive a reboot (the purge's ledger, the month's call count, the gateway map): state_dir
-- (/tmp/ttlock) is RAM on an LM, so the module keeps a snapshot in LM storage through these two
-- functions, written at most every persist_every_s (30 minutes) and after a purge: at most 52
-- storage writes a day (see docs/lua-api.md, configure{persist}).

M.persist_store = {
  load = function(key)
    local v = storage.get(M.PERSIST_KEY_PREFIX .. key)
    if type(v) == 'string' then return v end
    return nil
  end,
  save = function(key, text)
    store_value(M.PERSIST_KEY_PREFIX .. key, text)
  end,
}

---------------------------------------------------------------------------------------------------
-- The module, configured from the settings (once per process).

local configured
function M.module()
  if configured then return configured end
  local s = M.settings()
  if s.client_id == nil or s.client_id == 'YOUR_CLIENT_ID' or s.client_secret == 'YOUR_CLIENT_SECRET' then
    error('ttlock: fill in client_id and client_secret in the user library ttlock_config', 0)
  end
  M.append_cpath(s.cpath)
  local ttlock = require('ttlock')
  M.migrate_tokens()
  local opts = {}
  for k, v in pairs(s) do
    if not OWN_KEYS[k] then opts[k] = v end
  end
  if opts.token_store == nil then opts.token_store = M.token_store end
  if opts.stay_store == nil then opts.stay_store = M.stay_store end
  -- persist = false: state_dir only (e.g. a state_dir on flash that outlives a reboot by itself).
  if opts.persist == nil then opts.persist = M.persist_store elseif opts.persist == false then opts.persist = nil end
  if opts.log == nil then opts.log = module_log end
  -- LM keeps its log in a database shown in the UI: one line per successful request (hundreds
  -- in a purge) only when asked for.
  if opts.log_level == nil then opts.log_level = s.log_requests and 'debug' or 'info' end
  ttlock.configure(opts)
  configured = ttlock
  return ttlock
end

-- M.module() for the entry points: a broken setup becomes a log line (and a status text) instead
-- of a bare script error.
-- The last setup failure said by this process (a resident script says each one once, not every
-- minute).
local setup_said
local function module_or_report(status_fn, once)
  local ok, mod = pcall(M.module)
  if ok then
    setup_said = nil
    return mod
  end
  local msg = M.setup_problem(mod)  -- one plain line (see Commissioning)
  if not (once and setup_said == msg) then
    lm_log('setup failed: ' .. msg)
    lm_alert('setup failed: ' .. msg)
  end
  setup_said = msg
  if status_fn then status_fn('Error: ' .. msg) end
  return nil
end

-- Calls ttlock.<name>(args); a raised error (misuse) is turned into an err table, and so is a
-- module too old to have the function.
local function call(mod, name, args)
  local fn = mod[name]
  if type(fn) ~= 'function' then
    local text = 'the installed ttlock.so has no ' .. name .. ': install the version that came with this library'
    return nil, { code = 'module_outdated', message = text, advice = text }
  end
  local ok, res, err = pcall(fn, args)
  if not ok then return nil, { code = 'invalid_argument', message = tostring(res), advice = tostring(res) } end
  return res, err
end

---------------------------------------------------------------------------------------------------
-- Passcode event (tag PassCode, on the +0 trigger of a room block)

local function status_writer(base)
  return function(text)
    grp.update(base + M.OFF.status, M.clip(text))
  end
end

-- The room block behind a trigger address: lock id, room name, the doors a code goes to.
function M.room_of(base)
  local obj = grp.find(base)
  if not obj then return nil, 'no object at ' .. M.raw_to_ga(base) end
  local lock_id = M.lock_id_from_comment(obj.comment)
  if not lock_id then
    return nil, 'no LockId:<digits> in the comment of ' .. (obj.address or M.raw_to_ga(base))
  end
  local room = M.room_name(obj)
  if not room then
    -- Each room's stay is remembered under its name: rooms without one would share a memory.
    return nil, 'no Room_<name> tag on ' .. (obj.address or M.raw_to_ga(base))
      .. ': add one (the stay is remembered under the room\'s name)'
  end
  local codes = M.codes_from_comment(obj.comment) or M.settings().room_codes
  if codes ~= nil and not CODE_MODES[codes] then
    lm_log('Room ' .. room .. ': codes must be gateway, offline or auto (comment Codes: or room_codes): using gateway')
    codes = nil
  end
  local doors = { { lock_id = lock_id, name = 'Room ' .. room, room = true, codes = codes } }
  local seen = { [lock_id] = true }
  for _, d in ipairs(M.common_doors()) do
    if not seen[d.lock_id] then
      seen[d.lock_id] = true
      doors[#doors + 1] = d
    end
  end
  return { base = base, address = obj.address or M.raw_to_ga(base), lock_id = lock_id, room = room,
           doors = doors }
end

local function door_names(doors)
  local names = {}
  for _, d in ipairs(doors) do names[#names + 1] = d.name end
  return table.concat(names, ', ')
end

local function id_text(id)
  return type(id) == 'number' and string.format('%.0f', id) or tostring(id)
end

-- The status writer of the block at `base` and its room; a block without a usable room gets
-- the reason in +9 and the log (`what` names the action).
local function room_or_report(base, what)
  local status = status_writer(base)
  local room, rerr = M.room_of(base)
  if not room then
    status('Error: ' .. rerr)
    lm_log(what .. ': ' .. rerr)
  end
  return status, room, rerr
end

-- The status writer, the room and the configured module for an action on the block at `base`;
-- without a room or a working setup: nil and why (already in +9 and the log).
local function room_and_module(base, what)
  local status, room, rerr = room_or_report(base, what)
  if not room then return status, nil, nil, rerr end
  local ttlock = module_or_report(status)
  if not ttlock then return status, room, nil, 'setup failed' end
  return status, room, ttlock
end

local function is_string_object(obj)
  local d = rawget(_G, 'dt')
  local dt_string, dt_text = d and d.string or 16, d and d.text or 255
  if obj == nil then return true end
  if obj.datatype ~= nil then return obj.datatype == dt_string or obj.datatype == dt_text end
  return type(obj.value) ~= 'number'
end

-- Errors of the account, not of a door: every door fails the same way.
local ACCOUNT_WIDE = { auth_failed = true, not_configured = true, clock_skew = true, quota_exceeded = true }

-- The status of a failed stay operation whose every door failed for the same reason of the
-- account (no login, the clock, the month's quota) and kept what it held: that reason once
-- ('Check-in failed, no door has the code: no TTLock login yet: set ...'), not once per door.
local function plain_status(r)
  if type(r.status) ~= 'string' or type(r.doors) ~= 'table' or #r.doors == 0 then return r.status end
  local code, advice
  for _, d in ipairs(r.doors) do
    if d.ok or d.undone or d.state ~= 'old' or not ACCOUNT_WIDE[d.code] then return r.status end
    if code and (d.code ~= code or d.advice ~= advice) then return r.status end
    code, advice = d.code, d.advice
  end
  local head = r.status:match('^(.-):%s')
  if not head or not advice then return r.status end
  return head .. ': ' .. tostring(advice)
end

-- Log and status of a stay operation's report (res or err), and its alert when a door may be in
-- a state nobody asked for.
local function report_stay(room, what, r, status)
  status(r.status or ('Error: ' .. M.describe_error(r)))
  local head = string.format('%s Room %s (%s)', what, room.room, room.address)
  if r.name and r.valid_from_ms and r.valid_to_ms then
    head = head .. ' ' .. r.name .. ', ' .. M.fmt_window(r.valid_from_ms, r.valid_to_ms)
  end
  lm_log(head .. ': ' .. tostring(r.log_line or err_detail(r)))
  if r.alert then lm_alert(r.alert) end
end

-- Trigger true: a new stay (the code of +1 on the room lock and every common door), or, when the
-- room has a live stay, its change: other dates (extend, shorten) or another code (re-issue).
function M.check_in(base)
  local status, room, ttlock, perr = room_and_module(base, 'check-in')
  if not ttlock then return nil, perr end
  status('Working on ' .. door_names(room.doors) .. ', please wait...')
  local typed = grp.getvalue(base + M.OFF.code)
  local res, err = call(ttlock, 'stay_check_in', {
    room = room.room, doors = room.doors, passcode = typed,
    arrival_date = grp.getvalue(base + M.OFF.from_date), arrival_time = grp.getvalue(base + M.OFF.from_time),
    departure_date = grp.getvalue(base + M.OFF.to_date), departure_time = grp.getvalue(base + M.OFF.to_time),
    -- false: a common door that cannot be reached waits in the queue (retry_scheduled.lua).
    best_effort = M.settings().common_doors_required == false,
  })
  local r = res or err
  if type(r) ~= 'table' then r = { status = 'Error: ' .. tostring(err) } end
  if res then
    -- An offline room door's code is TTLock's: it goes to +1 for reception to hand out.
    if res.passcode and res.passcode ~= tostring(typed) then
      local numeric = not is_string_object(grp.find(base + M.OFF.code))
      if numeric and res.passcode:sub(1, 1) == '0' then
        lm_log(string.format('Room %s: +1 is a numeric object and cannot hold the leading zero of'
          .. ' TTLock\'s code (see +9): make +1 a string object', room.room))
      else
        grp.update(base + M.OFF.code, numeric and tonumber(res.passcode) or res.passcode)
      end
    end
    grp.update(base + M.OFF.name, res.name)
    if res.room_passcode_id then grp.update(base + M.OFF.passcode_id, res.room_passcode_id) end
  end
  if not res then r.status = plain_status(r) end
  if not res and r.outcome == 'unchanged' and r.code == 'invalid_argument' then
    status(r.status or ('Error: ' .. M.describe_error(r)))
    lm_log(string.format('check-in Room %s (%s) refused: %s', room.room, room.address, M.describe_error(r)))
    return nil, err
  end
  report_stay(room, 'check-in', r, status)
  return res, err
end


-- The staff codes' digits from the settings (a guest's fresh code must not be one of them).
function M.staff_digits()
  local out = {}
  local list = M.settings().staff_codes
  for _, sc in ipairs(type(list) == 'table' and list or {}) do
    local code = type(sc) == 'table' and sc.code
    if type(code) == 'string' and code:match('^%d%d%d%d%d?%d?%d?%d?%d?$') then out[#out + 1] = code end
  end
  return out
end

-- A fresh random 5-digit code into +1: none of the codes the stay memory knows on any door
-- (check = 'memory': no TTLock call; a code made in the TTLock app is met by the check-in, which
-- is then undone and says to draw another code).
local function put_fresh_code(base, ttlock)
  -- A numeric +1 object would drop a leading zero, so such codes are drawn again there.
  local numeric = not is_string_object(grp.find(base + M.OFF.code))
  local code, err
  for _ = 1, 10 do
    code, err = call(ttlock, 'generate_passcode', { digits = 5, check = 'memory', avoid = M.staff_digits() })
    if not code or not numeric or code:sub(1, 1) ~= '0' then break end
  end
  if not code then return nil, err end
  grp.update(base + M.OFF.code, numeric and tonumber(code) or code)
  return code
end

-- Trigger false: a fresh random 5-digit code into +1 (none the stay memory knows on a door).
function M.new_code(base)
  local status, room, ttlock, perr = room_and_module(base, 'new code')
  if not ttlock then return nil, perr end
  local code, err = put_fresh_code(base, ttlock)
  if not code then
    status('Error: no new code: ' .. M.describe_error(err))
    lm_log(string.format('new code for Room %s (%s) failed: %s', room.room, room.address, err_detail(err)))
    return nil, err
  end
  status('New code generated (on no door yet): set the dates and switch on to check in')
  lm_log(string.format('new code generated for Room %s (%s)', room.room, room.address))
  return code
end

-- Check-out object (+7) true: the stay's code off every door now, +8 to 0 and a fresh code into
-- +1; +0 stays as it is. A room without memory is found by +1 (code), +2 (name) and +8 (id).
function M.check_out(base)
  local status, room, ttlock, perr = room_and_module(base, 'check-out')
  if not ttlock then return nil, perr end
  status('Checking out: removing the code from ' .. door_names(room.doors) .. ', please wait...')
  local res, err = call(ttlock, 'stay_check_out', {
    room = room.room, doors = room.doors, passcode = grp.getvalue(base + M.OFF.code),
    name = grp.getvalue(base + M.OFF.name), passcode_id = grp.getvalue(base + M.OFF.passcode_id),
  })
  local r = res or err
  if type(r) ~= 'table' then r = { status = 'Error: ' .. tostring(err) } end
  if res then
    -- The code is off every door: the next guest starts from a fresh code.
    grp.update(base + M.OFF.passcode_id, 0)
    local code, cerr = put_fresh_code(base, ttlock)
    if not code then
      r.status = r.status .. '; no new code: ' .. M.describe_error(cerr)
    end
  elseif r.status then
    r.status = plain_status(r) .. ' Switch check-out on again to retry.'
  end
  report_stay(room, 'check-out', r, status)
  return res, err
end

-- LM's event has no `value` field: the value comes from event.getvalue() only.
local function event_value(ev)
  if type(ev.getvalue) == 'function' then return ev.getvalue() end
  return nil
end

-- Only group writes act: a group read of the trigger must not add or replace codes.
local function is_write(ev)
  return ev.type == nil or ev.type == 'groupwrite'
end

function M.checkout_event(ev)
  ev = ev or rawget(_G, 'event')
  if type(ev) ~= 'table' or not is_write(ev) then return end
  local v = event_value(ev)
  if not (v == true or v == 1) then return end
  local raw = ev.dstraw or M.ga_to_raw(ev.dst)
  if not raw then return end
  return M.check_out(raw - M.OFF.checkout)
end

function M.passcode_event(ev)
  ev = ev or rawget(_G, 'event')
  if type(ev) ~= 'table' or not is_write(ev) then return end
  local base = ev.dstraw or M.ga_to_raw(ev.dst)
  local v = event_value(ev)
  if v == true or v == 1 then
    return M.check_in(base)
  elseif v == false or v == 0 then
    return M.new_code(base)
  end
end

---------------------------------------------------------------------------------------------------
-- Retry of doors waiting in the queue (scheduled script, every few minutes)

-- Trigger address of every room block, by room name.
local function bases_by_room()
  local out = {}
  for _, obj in ipairs(grp.tag('PassCode') or {}) do
    local room = M.room_name(obj)
    local raw = M.ga_to_raw(obj.address)
    if room and raw and not out[room] then out[room] = raw end
  end
  return out
end

-- all = true: every waiting door now, whatever its schedule.
function M.retry_pending(all)
  local ttlock = module_or_report(nil)
  if not ttlock then return nil, 'setup failed' end
  local reports, err = call(ttlock, 'stays_retry', { all = all == true })
  if not reports then
    lm_log('retry of pending doors failed: ' .. err_detail(err))
    return nil, err
  end
  local bases = bases_by_room()
  for _, r in ipairs(reports) do
    local base = bases[r.room]
    local room = { room = r.room, address = base and M.raw_to_ga(base) or '?' }
    local status = base and status_writer(base) or function() end
    report_stay(room, 'retry', r, status)
  end
  return reports
end

---------------------------------------------------------------------------------------------------
-- Daily purge (scheduled script)

-- The room locks of the PassCode objects, each once: { {lock_id=, name='Room 101'}, ... };
-- `missing(obj)` is called for an object without LockId:<digits>.
function M.room_locks(missing)
  local out, seen = {}, {}
  for _, obj in ipairs(grp.tag('PassCode') or {}) do
    local id = M.lock_id_from_comment(obj.comment)
    if id and not seen[id] then
      seen[id] = true
      out[#out + 1] = { lock_id = id, name = 'Room ' .. (M.room_name(obj) or 'NA') }
    elseif not id and missing then
      missing(obj)
    end
  end
  return out
end

-- Every lock on PassCode objects plus the common doors: { {lock_id=, name=}, ... }.
function M.purge_locks()
  local out = M.room_locks(function(obj)
    lm_log('purge: no LockId:<digits> in the comment of ' .. tostring(obj.address) .. ': skipped')
  end)
  local seen = {}
  for _, r in ipairs(out) do seen[r.lock_id] = true end
  for _, d in ipairs(M.common_doors()) do
    if not seen[d.lock_id] then
      seen[d.lock_id] = true
      out[#out + 1] = d
    end
  end
  return out
end

local function code_list(list, max)
  local names = {}
  for i, c in ipairs(list) do
    if i > max then
      names[#names + 1] = string.format('... and %d more', #list - max)
      break
    end
    local ended = tonumber(c.valid_to_ms) and (', ended ' .. M.fmt_time(c.valid_to_ms)) or ''
    names[#names + 1] = string.format('%s (id %s%s)', tostring(c.name or '?'), id_text(c.passcode_id), ended)
  end
  return table.concat(names, ', ')
end

-- Why the purge listed a lock or skipped it (report.locks[i].reason), in words for the log.
function M.purge_reason(l, every_days)
  local r = l.reason
  local every = tonumber(every_days) or 1
  local days = every == 1 and 'a day' or (string.format('%g', every) .. ' days')
  if r == 'never_listed' then return 'first listing' end
  if r == 'full_sweep' then return 'weekly full listing' end
  if r == 'expired' then return 'expired codes' end
  if r == 'capacity' then
    return string.format('expired codes and %s codes known: near the lock\'s 250', tostring(l.known or '?'))
  end
  if r == 'nothing_expired' then return 'nothing expired' end
  if r == 'listed_recently' then
    return string.format('%s expired wait: purged less than %s ago', tostring(l.waiting or 0), days)
  end
  return tostring(r or l.source or '?')
end

-- How often the budget lets the purge list a lock with expired codes (days); 1 when the plan
-- cannot be made (logged).
function M.budget_purge_every_days(ttlock)
  local s = M.settings()
  local st = storage.get(M.EVENTS_KEY)
  local doors = {}
  for i, d in ipairs(M.watched_doors()) do doors[i] = { lock_id = d.lock_id, common = d.common } end
  local plan, err = call(ttlock, 'poll_plan', { budget = s.api_budget or M.DEFAULT_API_BUDGET, doors = doors,
    used = type(st) == 'table' and M.calls_this_month(st, os.time() * 1000) or 0 })
  if not plan then
    lm_log('purge: the API budget gave no plan, so every lock with expired codes is purged today: ' .. err_detail(err))
    return 1
  end
  lm_log(string.format('purge: the API budget lists a lock with expired codes every %g day(s)', plan.purge_every_days))
  return plan.purge_every_days
end

function M.purge_daily()
  local ttlock = module_or_report(nil)
  if not ttlock then return nil, 'setup failed' end
  local s = M.settings()
  -- A site that only purges must still renew its tokens before they lapse.
  local ok, terr = call(ttlock, 'ensure_token')
  if not ok then
    lm_log('token renewal before the purge failed: ' .. err_detail(terr))
    if type(terr) == 'table' and terr.code == 'auth_failed' then
      lm_alert('tokens rejected: a person must log in again (see the log)')
    end
  end
  local locks = M.purge_locks()
  if #locks == 0 then
    lm_log('purge: no locks (no PassCode object with LockId:<digits>, no common_doors)')
    return { locks = {}, deleted = {}, would_delete = {}, failed = {} }
  end
  local dry = s.purge_dry_run
  if dry == nil then dry = true end  -- start safe
  local ids, name_of = {}, {}
  for _, l in ipairs(locks) do
    ids[#ids + 1] = l.lock_id
    name_of[l.lock_id] = l.name
  end
  -- purge_every_days: a lock whose expired codes the module knows is listed (and purged) only
  -- when its last purge is older than this, or when it nears its memory's capacity
  -- (purge_capacity_margin codes); nil: the module's defaults (every day, 200 codes).
  -- 'budget': the API budget decides (poll_plan: 1 to 7 days, the purge's share of the month).
  local every_days = s.purge_every_days
  if every_days == 'budget' then
    every_days = M.budget_purge_every_days(ttlock)
  end
  local report, perr = call(ttlock, 'purge_expired', { lock_ids = ids, grace_s = s.purge_grace_s, dry_run = dry,
    every_days = every_days, capacity_margin = s.purge_capacity_margin })
  if not report then
    lm_log('purge failed: ' .. err_detail(perr))
    lm_alert('purge failed: ' .. M.describe_error(perr))
    return nil, perr
  end

  local mode = dry and 'purge (dry run)' or 'purge'
  local n_del, n_would, n_failed, n_lock_err = 0, 0, 0, 0
  for _, l in ipairs(report.locks or {}) do
    local label = string.format('%s %s (lock %s)', mode, name_of[l.lock_id] or 'lock', id_text(l.lock_id))
    local t = l.codes
    if l.error then
      n_lock_err = n_lock_err + 1
      lm_log(label .. ' failed: ' .. err_detail(l.error))
    else
      -- source 'ledger': the module knew the lock's codes from its own records and skipped listing.
      local line = string.format('%s: %s %s (%s), %s expired', label, tostring(l.listed or 0),
        l.source == 'ledger' and 'known from the module\'s records, not listed' or 'listed',
        M.purge_reason(l, every_days), tostring(l.expired or 0))
      if l.cloud_only then
        line = line .. ' (no gateway: removed from TTLock\'s list only)'
      end
      if (tonumber(l.kept) or 0) > 0 then
        line = line .. string.format(', %d kept for live stays', l.kept)
      end
      if dry then
        line = line .. string.format(', would delete %d', #t.would_delete)
        if #t.would_delete > 0 then line = line .. ': ' .. code_list(t.would_delete, 20) end
      else
        line = line .. string.format(', %s deleted', tostring(l.deleted or #t.deleted))
        if #t.deleted > 0 then line = line .. ': ' .. code_list(t.deleted, 20) end
      end
      lm_log(line)
    end
    for _, f in ipairs(t.failed) do
      lm_log(string.format('%s: could not delete %s (id %s): %s', label, tostring(f.name or '?'),
        id_text(f.passcode_id), err_detail(f)))
    end
    n_del, n_would, n_failed = n_del + #t.deleted, n_would + #t.would_delete, n_failed + #t.failed
  end
  local summary
  if dry then
    summary = string.format('purge done (dry run, nothing deleted; set purge_dry_run = false in'
      .. ' ttlock_config to delete): %d locks, %d codes would be deleted', #locks, n_would)
  else
    summary = string.format('purge done: %d locks, %d codes deleted', #locks, n_del)
  end
  summary = summary .. string.format(', %d codes failed, %d locks failed', n_failed, n_lock_err)
  lm_log(summary)
  if n_failed > 0 or n_lock_err > 0 then
    lm_alert(string.format('purge: %d locks failed, %d codes could not be deleted (see the log)',
      n_lock_err, n_failed))
  end
  return report
end

---------------------------------------------------------------------------------------------------
-- Commissioning (lua/scripts/commission.lua: run by hand after the install and after any change)
--
-- One log entry: the verdict first ('Commissioning: all good' / 'Commissioning: 3 problems'),
-- then the facts (the account's locks and gateways, the rooms, the common doors, the tokens, the
-- month's API calls), then one line per problem saying what to do. It changes nothing on any
-- lock: the module reads the account (ttlock.commission_check: client id and secret, tokens,
-- lock and gateway lists), and this part reads the LM objects. Never a secret or a code.

-- A failed setup (M.module) as one plain line for +9, the log and an alert: a missing ttlock.so
-- says where to upload it instead of Lua's search-path dump.
function M.setup_problem(err)
  local msg = tostring(err)
  local cpath = type(settings_cache) == 'table' and settings_cache.cpath or nil
  if msg:find("module 'ttlock' not found", 1, true) then
    if type(cpath) == 'string' and cpath ~= '' then
      local folder = cpath:match('^(.*/)%?%.so$') or cpath
      return 'ttlock.so not found in ' .. folder .. ': upload it there (see README, Install)'
    end
    return "ttlock.so not found: upload it to /home/ftp/ttlock/ and set cpath = '/home/ftp/ttlock/?.so'"
      .. ' in ttlock_config (see README, Install)'
  end
  local file, why = msg:match("error loading module 'ttlock' from file '([^']*)':%s*(.*)$")
  if file then
    why = (why:match('^[^\n]*') or ''):gsub('^.*:%s*', '')
    return M.clip('ttlock.so in ' .. file .. ' cannot be loaded (' .. why .. '): install the build for this'
      .. ' controller (see README, Install, step 1)', 200)
  end
  msg = msg:match('^[^\n]*') or msg
  return (msg:gsub('^ttlock: ', ''))
end

local LM_TYPE_NAMES = { [1] = 'boolean', [10] = 'time', [11] = 'date', [12] = '4-byte number',
                        [16] = '14-byte string', [255] = '250-byte text' }

local function type_name(datatype)
  return LM_TYPE_NAMES[tonumber(datatype)] or ('type ' .. tostring(datatype))
end

-- How a room's lock gets its codes: through its gateway, unless offline codes are set.
local function needs_gateway(codes)
  return codes == nil or codes == 'gateway' or not CODE_MODES[codes]
end

-- The site's doors from the LM objects and the settings, and the objects' problems:
-- { rooms = { {room, address, lock_id} }, doors = { {lock_id, name, gateway} }, used = { [id] = 'room 101 (32/1/0)' } }.
function M.commission_objects(problem)
  local d = rawget(_G, 'dt')
  local dt_text, dt_string = d and d.text or 255, d and d.string or 16
  local s = M.settings()
  local rooms, doors, used, seen_room, seen_lock, door_at = {}, {}, {}, {}, {}, {}
  local function add_door(id, name, gateway, what)
    used[id] = used[id] and (used[id] .. ', ' .. what) or what
    if door_at[id] then return end
    door_at[id] = #doors + 1
    doors[#doors + 1] = { lock_id = id, name = name, gateway = gateway }
  end
  for _, obj in ipairs(grp.tag('PassCode') or {}) do
    local addr = obj.address or '?'
    local raw = M.ga_to_raw(addr)
    local id = M.lock_id_from_comment(obj.comment)
    local room = M.room_name(obj)
    local label = room and ('room ' .. room .. ' (' .. addr .. ')') or ('PassCode object ' .. addr)
    if not room then
      problem(label .. ' has no Room_<name> tag: add one (Room_101 for room 101)')
    elseif seen_room[room] then
      problem('room ' .. room .. ' is on two PassCode objects (' .. seen_room[room] .. ', ' .. addr
        .. '): give each room its own name (the stay is kept per room name)')
    else
      seen_room[room] = addr
    end
    if not id then
      problem(label .. ' has no LockId:<digits> in its comment: add the lock\'s id (the TTLock app, or the'
        .. ' account\'s lock list in this report)')
    elseif seen_lock[id] then
      problem('lock ' .. id_text(id) .. ' is on two rooms (' .. seen_lock[id] .. ', ' .. addr
        .. '): correct the LockId of one of them')
    else
      seen_lock[id] = addr
    end
    if raw then
      local missing = {}
      for _, off in ipairs({ 1, 2, 3, 4, 5, 6, 8 }) do
        if not grp.find(raw + off) then missing[#missing + 1] = '+' .. off .. ' (' .. M.raw_to_ga(raw + off) .. ')' end
      end
      if #missing > 0 then
        problem(label .. ': no object at ' .. table.concat(missing, ', ') .. ': create the room block'
          .. ' (README, Install, step 5)')
      end
      local st_addr = M.raw_to_ga(raw + M.OFF.status)
      local st = grp.find(raw + M.OFF.status)
      local name9 = '+9 of ' .. (room and ('room ' .. room) or addr) .. ' (' .. st_addr .. ')'
      if not st then
        problem(name9 .. ' does not exist: create it as a 250-byte text (virtual address 32/x/x or higher)')
      elseif st.datatype ~= dt_text then
        problem(name9 .. ' is a ' .. type_name(st.datatype) .. ': make it a 250-byte text'
          .. (st.datatype == dt_string and ' (the status is cut to 14 bytes)' or ''))
      end
    end
    if id and room then
      local codes = M.codes_from_comment(obj.comment) or s.room_codes
      rooms[#rooms + 1] = { room = room, address = addr, lock_id = id }
      add_door(id, 'Room ' .. room .. ' (' .. addr .. ')', needs_gateway(codes), 'room ' .. room)
    end
  end
  for _, c in ipairs(M.common_doors()) do
    add_door(c.lock_id, c.name .. ' (common door)', needs_gateway(c.codes), 'common door ' .. c.name)
  end
  for _, obj in ipairs(grp.tag('UnlockDoor') or {}) do
    local id = M.lock_id_from_comment(obj.comment)
    local what = (obj.name and obj.name ~= '' and obj.name or 'UnlockDoor') .. ' (' .. tostring(obj.address) .. ')'
    if id then
      add_door(id, what, true, 'unlock ' .. what)
    else
      problem('UnlockDoor object ' .. what .. ' has no LockId:<digits> in its comment: add the lock\'s id')
    end
  end
  return { rooms = rooms, doors = doors, used = used }
end

local function fmt_date(ms)
  return os.date('%Y-%m-%d %H:%M', math.floor(ms / 1000))
end

local function online_text(online)
  if online == true then return 'online' end
  if online == false then return 'OFFLINE' end
  return 'online unknown'
end

-- The facts of the module's check, as lines.
local function account_lines(r, objects, fact)
  local used = objects.used
  local gw = {}
  for _, g in ipairs(r.gateways or {}) do gw[g.gateway_id] = g end
  if r.locks then
    local offline = 0
    for _, g in ipairs(r.gateways or {}) do if g.online == false then offline = offline + 1 end end
    fact(string.format('account: %d lock(s), %s gateway(s)%s', #r.locks,
      r.gateways and tostring(#r.gateways) or '?', offline > 0 and (' (' .. offline .. ' offline)') or ''))
    -- One screen: a big site lists each lock that needs a look (low battery, no gateway or an
    -- offline one, not used here) and sums up the others in one line.
    local low_at = tonumber(M.settings().battery_low) or 20
    local big = #r.locks > 12
    local quiet, lowest = 0, nil
    for _, l in ipairs(r.locks) do
      local parts = {}
      parts[#parts + 1] = 'battery ' .. (l.battery and (l.battery .. ' %') or '?')
      local names = {}
      local all_online = true
      for _, id in ipairs(l.gateway_ids or {}) do
        local g = gw[id]
        if not (g and g.online) then all_online = false end
        names[#names + 1] = (g and g.name or ('gateway ' .. id_text(id))) .. ' ' .. online_text(g and g.online)
      end
      if #names > 0 then
        parts[#parts + 1] = 'gateway ' .. table.concat(names, ', ')
      elseif l.has_gateway == false then
        parts[#parts + 1] = 'no gateway'
      end
      parts[#parts + 1] = used[l.lock_id] or 'not used here'
      local fine = l.battery and l.battery > low_at and #names > 0 and all_online and used[l.lock_id] ~= nil
      if big and fine then
        quiet = quiet + 1
        if not lowest or l.battery < lowest then lowest = l.battery end
      else
        fact(string.format('  lock %s %s: %s', id_text(l.lock_id), tostring(l.alias or l.name or ''),
          table.concat(parts, '; ')))
      end
    end
    if quiet > 0 then
      fact(string.format('  and %d more lock(s) in use here, each with a gateway online and a battery at %d %% or more',
        quiet, lowest))
    end
    for _, g in ipairs(r.gateways or {}) do
      fact(string.format('  gateway %s %s: %s, %s lock(s)', id_text(g.gateway_id), tostring(g.name or ''),
        online_text(g.online), tostring(g.lock_count or '?')))
    end
  else
    fact('account: not read (see the problems)')
  end
end

local function token_lines(r, s, fact)
  local info = r.token_info or {}
  local store = s.token_store and 'the token_store of ttlock_config'
    or ('LM storage (key ' .. M.TOKEN_KEY .. ')')
  local state = ({ working = 'the stored access token works', renewed = 'no stored token worked: new ones'
    .. ' were obtained', failed = 'none works', skipped = 'not tried (client id or secret wrong)' })[r.tokens]
    or tostring(r.tokens)
  local line = 'tokens: ' .. state
  if info.has_access_token and info.expires_at_ms then
    local days = (info.expires_at_ms - os.time() * 1000) / 86400000
    line = line .. string.format('; access token valid until %s (%.0f days)', fmt_date(info.expires_at_ms), days)
  end
  line = line .. '; kept in ' .. store
  fact(line)
  if r.tokens == 'working' then
    fact('app account (username/password_md5): ' .. (r.has_credentials and 'set, not checked (the tokens work)'
      or 'not set: the refresh token renews the tokens; if TTLock ever refuses it, a login is needed'))
  elseif r.tokens == 'renewed' then
    fact('app account (username/password_md5): ' .. (r.has_credentials and 'set' or 'not set')
      .. '; the new tokens are stored')
  end
end

-- The report: log entry, and { ok, problems = { text... }, lines = { text... } }.
function M.commission()
  local facts, problems, object_problems = {}, {}, {}
  local function fact(line) facts[#facts + 1] = line end
  local function problem(line) problems[#problems + 1] = line end
  local function finish()
    -- The account's problems first, then the LM objects'.
    for _, p in ipairs(object_problems) do problems[#problems + 1] = p end
    local head = #problems == 0 and 'Commissioning: all good'
      or string.format('Commissioning: %d problem%s', #problems, #problems == 1 and '' or 's')
    local lines = { head .. ' (read only: nothing was changed on any lock)' }
    for _, f in ipairs(facts) do lines[#lines + 1] = f end
    for i, p in ipairs(problems) do lines[#lines + 1] = string.format('problem %d: %s', i, p) end
    lm_log(table.concat(lines, '\n'))
    return { ok = #problems == 0, problems = problems, lines = lines }
  end

  local sok, s = pcall(M.settings)
  if not sok then
    problem(M.setup_problem(s))
    return finish()
  end
  local mok, ttlock = pcall(M.module)
  if not mok then
    problem(M.setup_problem(ttlock))
    return finish()
  end
  fact('module: ttlock.so ' .. tostring(ttlock._VERSION) .. ', api_base ' .. tostring(s.api_base or 'https://euapi.ttlock.com'))
  local objects = M.commission_objects(function(line) object_problems[#object_problems + 1] = line end)
  local r, err = call(ttlock, 'commission_check', { doors = objects.doors, battery_low = s.battery_low })
  if not r then
    problem('the account could not be checked: ' .. M.describe_error(err))
    return finish()
  end
  if r.secret == 'right' then
    fact(string.format('client id and secret: right (TTLock counted %s API calls for the app this month)',
      tostring(r.month_count)))
  elseif r.secret == 'wrong' or r.secret == 'unknown_client' then
    fact('client id and secret: WRONG (see the problems)')
  elseif r.secret == 'not_checked' then
    fact('client id and secret: not checked (' .. M.describe_error(r.secret_error) .. ')')
  end
  account_lines(r, objects, fact)
  local names = {}
  for _, room in ipairs(objects.rooms) do
    names[#names + 1] = string.format('%s (%s, lock %s)', room.room, room.address, id_text(room.lock_id))
  end
  fact(string.format('rooms: %d%s', #names, #names > 0 and (': ' .. M.clip(table.concat(names, ', '), 400)) or ''))
  local commons = {}
  for _, c in ipairs(M.common_doors()) do
    commons[#commons + 1] = string.format('%s (lock %s)', c.name, id_text(c.lock_id))
  end
  fact('common doors: ' .. (#commons > 0 and table.concat(commons, ', ') or 'none'))
  token_lines(r, s, fact)
  fact(string.format('API calls this month: %s, %s by this controller; api_budget %s',
    r.month_count and (tostring(r.month_count) .. ' by TTLock\'s count for the app')
      or 'TTLock\'s count not available (it needs the right client id and secret)',
    tostring(r.module_calls or '?'), tostring(s.api_budget or M.DEFAULT_API_BUDGET)))
  for _, p in ipairs(r.problems or {}) do problem(p.text) end
  return finish()
end

---------------------------------------------------------------------------------------------------
-- Door events and site health (resident script, every 60 s; see README "Door events")
--
-- Objects, all optional, found by tag and comment (as UnlockDoor):
--   per door (comment LockId:<digits>): LockBattery (percent), LockBatteryLow (boolean alarm),
--     LastOpenedAt (text 'YYYY-MM-DD HH:MM', or a number: seconds since 1970), LastOpenedBy (text),
--     GuestArrived (boolean; on the ROOM lock: true once the live stay's guest has opened a door
--     with the stay's code, false for a new stay or none);
--   per gateway (comment GatewayId:<digits>): GatewayOnline (boolean);
--   site: TTLockOK (boolean), TTLockTokenDays (number), TTLockApiCalls (number, this month).

-- Objects of a tag by the id in their comment: { [id] = { obj, ... } }.
local function objects_by_id(tag, id_of)
  local out = {}
  for _, obj in ipairs(grp.tag(tag) or {}) do
    local id = id_of(obj.comment)
    if id then
      out[id] = out[id] or {}
      table.insert(out[id], obj)
    end
  end
  return out
end

-- Writes v to each object when it differs (LM sends a telegram only then).
local function put(objs, v)
  for _, obj in ipairs(objs or {}) do
    grp.checkwrite(obj.address, v)
  end
end

-- A time into an object: a 250-byte text gets '2026-12-02 14:05', a 14-byte string (KNX DPT 16)
-- '02.12.26 14:05', a number the seconds since 1970 (local time of the controller).
local function put_time(objs, ms)
  local d = rawget(_G, 'dt')
  local dt_text = d and d.text or 255
  for _, obj in ipairs(objs or {}) do
    if obj.datatype == dt_text then
      grp.checkwrite(obj.address, os.date('%Y-%m-%d %H:%M', math.floor(ms / 1000)))
    elseif is_string_object(obj) then
      grp.checkwrite(obj.address, os.date('%d.%m.%y %H:%M', math.floor(ms / 1000)))
    else
      grp.checkwrite(obj.address, math.floor(ms / 1000))
    end
  end
end

local function key_of(id)
  return string.format('%.0f', id)
end

-- The doors the poller watches: rooms, common doors, and any lock with a door-event object.
function M.watched_doors()
  local out, seen = {}, {}
  local function add(id, name, common)
    if not seen[id] then
      seen[id] = #out + 1
      out[#out + 1] = { lock_id = id, name = name, common = common }
    elseif common then
      out[seen[id]].common = true
    end
  end
  for _, r in ipairs(M.room_locks()) do add(r.lock_id, r.name, false) end
  for _, d in ipairs(M.common_doors()) do add(d.lock_id, d.name, true) end
  for _, tag in ipairs({ 'LastOpenedAt', 'LastOpenedBy', 'GuestArrived' }) do
    for id in pairs(objects_by_id(tag, M.lock_id_from_comment)) do
      add(id, 'Door ' .. key_of(id), false)
    end
  end
  return out
end

-- LM storage writes are bounded (README "Door events"): the resident process keeps its state
-- and the cursors here between runs and writes them only when something happened, or every
-- M.EVENTS_SAVE_EVERY_MS; a new process (after a restart) reads them back from storage.
M.EVENTS_SAVE_EVERY_MS = 30 * 60000
local events_cache, cursor_cache = nil, {}

local function load_events_state()
  if events_cache then return events_cache end
  local st = storage.get(M.EVENTS_KEY)
  if type(st) ~= 'table' then st = {} end
  for _, k in ipairs({ 'last', 'failing', 'cursor_saved' }) do
    if type(st[k]) ~= 'table' then st[k] = {} end
  end
  events_cache = st
  return st
end

-- The site health: objects, and an alert on each change of state (the module decides which).
local function run_health(ttlock, s, st, now_ms)
  local h, err = call(ttlock, 'site_health', { state = st.health_state, battery_low = s.battery_low,
    token_warn_days = s.token_warn_days })
  -- A refused or failed check waits for its interval too, and is said once.
  st.health_ms = now_ms
  if not h then
    local text = err_detail(err)
    if st.health_error ~= text then
      lm_log('site health failed: ' .. text)
      st.health_error, st.dirty = text, true
    end
    return
  end
  if st.health_error then st.health_error, st.dirty = nil, true end
  if h.state ~= st.health_state or h.calls ~= st.calls then st.dirty = true end
  st.health_state = h.state
  st.calls_month = h.month
  st.calls = h.calls
  for _, a in ipairs(h.alerts or {}) do lm_alert((tostring(a):gsub('^TTLock: ', ''))) end
  put(grp.tag('TTLockOK'), h.ok)
  put(grp.tag('TTLockApiCalls'), h.calls)
  if h.token_days then put(grp.tag('TTLockTokenDays'), math.floor(h.token_days)) end
  if not h.ok then return end
  local battery = objects_by_id('LockBattery', M.lock_id_from_comment)
  local low = objects_by_id('LockBatteryLow', M.lock_id_from_comment)
  for _, l in ipairs(h.locks) do
    if l.battery then put(battery[l.lock_id], l.battery) end
    put(low[l.lock_id], l.low)
  end
  local online = objects_by_id('GatewayOnline', M.gateway_id_from_comment)
  for _, g in ipairs(h.gateways) do put(online[g.gateway_id], g.online) end
end

-- One lock's new records: last opened at / by, arrivals. True when the poll worked.
-- run: this run's { arrived_now, room_lock, opened_at, opened_by } (objects read once a run).
local function poll_door(ttlock, s, st, door, run, now_ms)
  local arrived_now, room_lock = run.arrived_now, run.room_lock
  local key = M.CURSOR_KEY_PREFIX .. key_of(door.lock_id)
  local cursor = cursor_cache[door.lock_id]
  if cursor == nil then
    cursor = storage.get(key)
    if type(cursor) ~= 'string' then cursor = nil end
  end
  local r, err = call(ttlock, 'door_events', { lock_id = door.lock_id, cursor = cursor,
    lookback_s = s.events_lookback_s })
  local id = key_of(door.lock_id)
  if not r then
    if err and err.code == 'invalid_argument' and cursor and tostring(err.message):find('cursor', 1, true) then
      cursor_cache[door.lock_id] = nil
      -- A cursor this version cannot read: start again at the present (said once).
      storage.delete(key)
      lm_log(string.format('door events %s (lock %s): the stored cursor was unreadable, starting again from now', door.name, id))
      return false
    end
    if not st.failing[id] then
      lm_log(string.format('door events %s (lock %s) failed: %s (retried at the next poll; said once)', door.name, id, err_detail(err)))
    end
    st.failing[id] = true
    return false
  end
  if st.failing[id] then
    lm_log(string.format('door events %s (lock %s): reading works again', door.name, id))
    st.failing[id] = nil
  end
  -- Objects first, then the cursor: a restart in between repeats the same values, never loses one.
  for _, a in ipairs(r.arrivals) do
    lm_log(string.format('guest of room %s (stay %s) arrived: first opened %s at %s', a.room, a.stay,
      door.name, M.fmt_time(a.time_ms)))
    local room_id = room_lock[a.room]
    if room_id then arrived_now[room_id] = true end
  end
  if r.opened then
    local o = r.opened
    local by = o.who or o.stay or o.type_name or 'unknown'
    put_time(run.opened_at[door.lock_id], o.time_ms or now_ms)
    put(run.opened_by[door.lock_id], by)
  end
  -- Stored when it handled records (so that none is handled twice after a restart) or when the
  -- stored one is a look-back window old (a restart would read a longer span); an empty read
  -- only moves the window, which the stored cursor may lag.
  cursor_cache[door.lock_id] = r.cursor
  local saved = tonumber(st.cursor_saved[id])
  local lookback_ms = (tonumber(s.events_lookback_s) or 86400) * 1000
  if r.cursor ~= cursor and (#r.events > 0 or not saved or now_ms - saved >= lookback_ms or now_ms < saved) then
    local ok, serr = storage.set(key, r.cursor)
    if ok == false then
      lm_log('could not save the records cursor of lock ' .. id .. ': ' .. tostring(serr))
    else
      st.cursor_saved[id] = now_ms
      st.dirty = true
    end
  end
  return true, #r.events, #r.arrivals
end

-- TTLock's month (Beijing time) of `now_ms`, 'YYYY-MM'.
function M.ttlock_month(now_ms)
  return os.date('!%Y-%m', math.floor(now_ms / 1000) + 8 * 3600)
end

-- The month's calls the last site check saw; 0 once TTLock's month has turned (last month's
-- count would starve the new month's polls until the next check).
function M.calls_this_month(st, now_ms)
  if st.calls_month ~= M.ttlock_month(now_ms) then return 0 end
  return tonumber(st.calls) or 0
end

-- The resident script's body: plan within the budget, the site health when due, record polls.
function M.door_events(now_ms)
  local ttlock = module_or_report(nil, true)
  if not ttlock then return nil, 'setup failed' end
  local s = M.settings()
  now_ms = now_ms or os.time() * 1000
  local st = load_events_state()
  local doors = M.watched_doors()
  local plan_doors = {}
  for i, d in ipairs(doors) do
    plan_doors[i] = { lock_id = d.lock_id, common = d.common, last_poll_ms = tonumber(st.last[key_of(d.lock_id)]) }
  end
  local plan, err = call(ttlock, 'poll_plan', { budget = s.api_budget or M.DEFAULT_API_BUDGET,
    used = M.calls_this_month(st, now_ms), now_ms = now_ms, doors = plan_doors,
    last_health_ms = tonumber(st.health_ms) })
  if not plan then
    local text = err_detail(err)
    if st.plan_error ~= text then lm_log('door events: no plan: ' .. text) end
    st.plan_error = text
    return nil, err
  end
  st.plan_error = nil
  local logged_text = plan.text ~= st.text
  if logged_text then
    lm_log('door events: ' .. plan.text .. ' (' .. plan.budget_text .. ')')
    st.text = plan.text
  end
  -- GuestArrived follows the stay memory: false for a new stay (or none), true once arrived.
  local arrived_objs = objects_by_id('GuestArrived', M.lock_id_from_comment)
  local room_lock = {}
  local arrived_now = {}
  for _, r in ipairs(plan.rooms or {}) do
    room_lock[r.room] = r.lock_id
    arrived_now[r.lock_id] = r.arrived_ms ~= nil
  end
  if plan.health_due then run_health(ttlock, s, st, now_ms) end
  local by_id = {}
  for _, d in ipairs(doors) do by_id[d.lock_id] = d end
  local run = { arrived_now = arrived_now, room_lock = room_lock,
                opened_at = objects_by_id('LastOpenedAt', M.lock_id_from_comment),
                opened_by = objects_by_id('LastOpenedBy', M.lock_id_from_comment) }
  local polled, handled, arrivals = 0, 0, 0
  for _, id in ipairs(plan.due) do
    local door = by_id[id]
    if door then
      local ok, n, a = poll_door(ttlock, s, st, door, run, now_ms)
      if ok then polled, handled, arrivals = polled + 1, handled + n, arrivals + a end
      -- A failed poll waits for its interval too: a dead gateway is not asked every minute.
      st.last[key_of(id)] = now_ms
    end
  end
  -- GuestArrived once per run, after the polls: a new stay's false and its arrival found in the
  -- same run must not be two writes (LM applies a write later; the second would compare with the
  -- old value).
  for id, objs in pairs(arrived_objs) do put(objs, arrived_now[id] == true) end
  -- Written when records were handled, a cursor was stored, the health ran or the plan changed,
  -- and otherwise at most every M.EVENTS_SAVE_EVERY_MS (the last polls: a restart that finds
  -- them older polls those doors once more).
  local saved_ms = tonumber(st.saved_ms) or 0
  if handled > 0 or st.dirty or logged_text
      or now_ms - saved_ms >= M.EVENTS_SAVE_EVERY_MS or now_ms < saved_ms then
    st.dirty, st.saved_ms = nil, now_ms
    local ok, serr = storage.set(M.EVENTS_KEY, st)
    if ok == false then lm_log('could not save the door events state: ' .. tostring(serr)) end
  end
  -- polled: doors read; handled: new records; arrivals: guests found arrived.
  return { plan = plan, polled = polled, handled = handled, arrivals = arrivals }
end

---------------------------------------------------------------------------------------------------
-- Unlock event (tag UnlockDoor, comment LockId:<digits>)

function M.unlock_event(ev)
  ev = ev or rawget(_G, 'event')
  if type(ev) ~= 'table' or not is_write(ev) then return end
  local v = event_value(ev)
  if not (v == true or v == 1) then return end
  local obj = grp.find(ev.dst or ev.dstraw)
  local where = (obj and obj.address) or tostring(ev.dst)
  local id = obj and M.lock_id_from_comment(obj.comment)
  if not id then
    lm_log('unlock: no LockId:<digits> in the comment of ' .. where)
    return nil, 'no lock id'
  end
  local label = string.format('unlock %s (lock %s)', (obj.name and obj.name ~= '') and obj.name or where,
    id_text(id))
  local ttlock = module_or_report(nil)
  if not ttlock then return nil, 'setup failed' end
  local ok, err = call(ttlock, 'unlock', { lock_id = id })
  if ok then
    lm_log(label .. ': opened')
    return true
  end
  lm_log(label .. ' failed: ' .. err_detail(err))
  lm_alert(label .. ' failed: ' .. M.describe_error(err))
  return nil, err
end

---------------------------------------------------------------------------------------------------
-- Staff codes (daily script, before the purge; README "Staff codes", docs/lua-api.md "Staff codes")
--
-- Settings staff_codes = { { name = 'Cleaning', code = '246810', doors = 'rooms' | 'common' |
-- 'all' | { lock ids }, valid_from = 'YYYY-MM-DD HH:MM', valid_to = '...' (neither: permanent) } }
-- and staff_dry_run. The module adds the missing codes, changes the changed ones and removes the
-- ones it made that the settings no longer hold (or whose period has ended); it never touches a
-- code it did not make, and a code that collides with a guest's code on a door is reported, not
-- forced. It remembers what it made in LM storage (key ttlock_staff: lock, id, name and a digest,
-- never the digits), and the purge keeps those codes. Unchanged settings cost no TTLock call.

M.STAFF_KEY = 'ttlock_staff'                        -- LM storage key of the staff sync's record
OWN_KEYS.staff_codes = true
OWN_KEYS.staff_dry_run = true

M.staff_store = {
  load = function()
    local v = storage.get(M.STAFF_KEY)
    if type(v) == 'table' then return v end
    return nil
  end,
  save = function(record)
    store_value(M.STAFF_KEY, record)
  end,
}

-- 'YYYY-MM-DD HH:MM' (local time of the controller) -> ms; a number is taken as ms already.
function M.staff_time_ms(v)
  -- A number is milliseconds since 1970; seconds (below 1e11, before 1973) are refused.
  if type(v) == 'number' then return v >= 1e11 and v or nil end
  if type(v) ~= 'string' then return nil end
  local y, mo, d, h, mi = v:match('^%s*(%d%d%d%d)%-(%d%d)%-(%d%d)[ T](%d%d):(%d%d)%s*$')
  if not y then return nil end
  local t = { year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
              min = tonumber(mi), sec = 0, isdst = nil }
  local secs = os.time(t)
  local back = secs and os.date('*t', secs)
  if not back or back.day ~= t.day or back.month ~= t.month or back.hour ~= t.hour then return nil end
  return secs * 1000
end

-- The staff_codes settings in the module's form; nil and why for a bad time (never the digits).
function M.staff_codes()
  local out = {}
  local list = M.settings().staff_codes
  if list == nil then return out end
  if type(list) ~= 'table' then return nil, 'staff_codes must be a list of tables' end
  for i, e in ipairs(list) do
    if type(e) ~= 'table' then return nil, 'staff_codes entry ' .. i .. ' must be a table' end
    local label = 'staff code ' .. (type(e.name) == 'string' and ("'" .. e.name .. "'") or ('#' .. i))
    local c = { name = e.name, code = e.code, doors = e.doors }
    if type(c.code) == 'number' then
      return nil, label .. ': write the code in quotes (a number loses its leading zeros)'
    end
    for _, k in ipairs({ 'valid_from', 'valid_to' }) do
      local v = e[k] or e[k .. '_ms']
      if v ~= nil then
        local ms = M.staff_time_ms(v)
        if not ms then return nil, label .. ': ' .. k .. " must be 'YYYY-MM-DD HH:MM'" end
        c[k .. '_ms'] = ms
      end
    end
    out[#out + 1] = c
  end
  return out
end

-- The room locks staff codes with doors = 'rooms' go to.
function M.staff_rooms() return M.room_locks() end

-- The daily sync (purge_scheduled.lua, before the purge): one log line per change, per
-- collision and per failure (never the digits), an alert only for collisions and failures.
-- It also tells the module where the record lives, so the purge of the same run keeps the codes.
function M.staff_sync_daily()
  local ttlock = module_or_report(nil)
  if not ttlock then return nil, 'setup failed' end
  local ok, serr = call(ttlock, 'staff_store', M.staff_store)
  if not ok then
    lm_log('staff codes: ' .. err_detail(serr))
    return nil, serr
  end
  local s = M.settings()
  local codes, why = M.staff_codes()
  if not codes then
    lm_log('staff codes: settings refused, nothing sent: ' .. why)
    lm_alert('staff codes: settings refused: ' .. why)
    return nil, why
  end
  local common = {}
  for _, d in ipairs(M.common_doors()) do common[#common + 1] = { lock_id = d.lock_id, name = d.name } end
  local report, err = call(ttlock, 'staff_sync', { codes = codes, rooms = M.staff_rooms(), common = common,
    dry_run = s.staff_dry_run == true })
  if not report then
    -- A raised error is refused settings, unless the staff record could not be saved after the
    -- doors were changed (the module's message says so).
    local bad = type(err) == 'table' and err.code == 'invalid_argument'
      and not tostring(err.message):find('were synced', 1, true)
    local head = bad and 'staff codes: settings refused, nothing sent: ' or 'staff codes: sync failed: '
    lm_log(head .. err_detail(err))
    lm_alert(head .. M.describe_error(err))
    return nil, err
  end
  local quiet = { unchanged = true, ended = true }
  for _, d in ipairs(report.doors) do
    if not quiet[d.status] then
      local line = 'staff codes: ' .. d.text
      if d.status == 'failed' and d.error and d.error.message and not line:find(d.error.message, 1, true) then
        line = line .. ' (' .. tostring(d.error.message) .. ')'
      end
      lm_log(line)
    end
  end
  if #codes > 0 or #report.doors > 0 then lm_log(report.summary) end
  for _, text in ipairs(report.alerts) do lm_alert('staff codes: ' .. text) end
  return report
end

return M
