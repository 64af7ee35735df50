-- LogicMachine emulator: the LM scripting globals (grp, dt, event, storage, log, alert, sleep and
-- helpers) backed by a "site" directory, following LM's scripting reference
-- (https://openrb.com/docs/lua.htm) and what LM-based OEM firmware 1.13.0 shows.
--
-- Plain Lua 5.1 (runs under lua5.1, LuaJIT and a musl-built Lua under qemu): no C modules, no
-- shell commands except the `sleep` fallback when LuaSocket is missing.
--
-- Site directory layout (flat, so no mkdir is needed):
--   objects.db        object definitions {[raw] = {address, name, datatype, comment, tags, units}}
--   scripts.db        event scripts of the site {{tag= | address=, script=, name=}, ...}
--   obj_<raw>.val     one file per object value {value = v, updatetime = t, pending = {...}}
--   st_<hex key>.val  one file per storage key {value = v}
--   log.txt, alerts.txt, errors.txt, bus.txt   appended entries (see M.read_entries)
--   events.txt        event script runs started by writes of scripts (see M.read_events)
--   readback.txt      reads of a script's own write before it landed (entries as log.txt)
-- Every file is replaced by write-to-temp + rename, so concurrent processes see old or new, never
-- half a file. Two processes creating objects at the same moment can lose one definition (LM
-- serialises this in its DB); object values and storage keys are independent files.

local M = {}

local dt = {
  bool = 1, bit2 = 2, bit4 = 3, char = 4, uint8 = 5, scale = 5001, angle = 5003, int8 = 6,
  uint16 = 7, int16 = 8, uint24 = 232, rgb = 232600, float16 = 9, time = 10, date = 11,
  uint32 = 12, int32 = 13, float32 = 14, int64 = 29, string = 16, text = 255,
}
M.dt = dt

---------------------------------------------------------------------------------------------------
-- Serialisation: Lua literals, read back with a chunk that has an empty environment.

local function ser(v, out, seen)
  local t = type(v)
  if t == 'nil' then
    out[#out + 1] = 'nil'
  elseif t == 'boolean' then
    out[#out + 1] = v and 'true' or 'false'
  elseif t == 'number' then
    if v ~= v then
      out[#out + 1] = '(0/0)'
    elseif v == math.huge then
      out[#out + 1] = '(1/0)'
    elseif v == -math.huge then
      out[#out + 1] = '(-1/0)'
    else
      -- %.17g round-trips every double and prints integers below 2^53 without an exponent.
      out[#out + 1] = string.format('%.17g', v)
    end
  elseif t == 'string' then
    out[#out + 1] = string.format('%q', v)
  elseif t == 'table' then
    if seen[v] then error('cannot serialise a table that contains itself', 0) end
    seen[v] = true
    out[#out + 1] = '{'
    -- Sorted keys keep the files stable and diffable.
    local keys = {}
    for k in pairs(v) do
      local kt = type(k)
      if kt ~= 'string' and kt ~= 'number' and kt ~= 'boolean' then
        error('cannot serialise a ' .. kt .. ' key', 0)
      end
      keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b)
      local ta, tb = type(a), type(b)
      if ta ~= tb then return ta < tb end
      if ta == 'boolean' then return (not a) and b end
      return a < b
    end)
    for _, k in ipairs(keys) do
      out[#out + 1] = '['
      ser(k, out, seen)
      out[#out + 1] = ']='
      ser(v[k], out, seen)
      out[#out + 1] = ','
    end
    out[#out + 1] = '}'
    seen[v] = nil
  else
    error('cannot serialise a ' .. t, 0)
  end
end

function M.serialize(v)
  local out = {}
  ser(v, out, {})
  return table.concat(out)
end

function M.deserialize(s, name)
  if type(s) ~= 'string' or s:byte(1) == 27 then return nil, 'not a serialised value' end
  local f, err = loadstring('return ' .. s, '=' .. (name or 'value'))
  if not f then return nil, err end
  setfenv(f, {})
  local ok, v = pcall(f)
  if not ok then return nil, v end
  return v
end

local function deepcopy(v)
  if type(v) ~= 'table' then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deepcopy(x) end
  return c
end

-- A value as LM storage gives it back: numbers with 15 significant digits, functions (and other
-- values it cannot keep) gone.
function M.storable(v, seen)
  local t = type(v)
  if t == 'number' then
    if v ~= v or v == math.huge or v == -math.huge then return v end
    return tonumber(string.format('%.15g', v))
  end
  if t == 'string' or t == 'boolean' then return v end
  if t ~= 'table' then return nil end
  seen = seen or {}
  if seen[v] then error('cannot serialise a table that contains itself', 0) end
  seen[v] = true
  local c = {}
  for k, x in pairs(v) do
    local sk = M.storable(k, seen)
    if sk ~= nil then c[sk] = M.storable(x, seen) end
  end
  seen[v] = nil
  return c
end

local function deepeq(a, b)
  if a == b then return true end
  if type(a) ~= 'table' or type(b) ~= 'table' then return false end
  for k, v in pairs(a) do
    if not deepeq(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

---------------------------------------------------------------------------------------------------
-- Files

local function readfile(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('*a')
  f:close()
  return s
end

local PID
local function pid()
  if not PID then
    local stat = readfile('/proc/self/stat')
    PID = stat and stat:match('^(%d+)') or tostring({}):match('(%x+)$') or tostring(os.time())
  end
  return PID
end

local tmp_counter = 0
local function atomic_write(path, data)
  tmp_counter = tmp_counter + 1
  local tmp = path .. '.tmp.' .. pid() .. '.' .. tmp_counter
  local f, err = io.open(tmp, 'wb')
  if not f then error('lm: cannot write ' .. path .. ': ' .. tostring(err), 0) end
  local ok, werr = f:write(data)
  f:close()
  if not ok then
    os.remove(tmp)
    error('lm: cannot write ' .. path .. ': ' .. tostring(werr), 0)
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then
    os.remove(tmp)
    error('lm: cannot rename to ' .. path .. ': ' .. tostring(rerr), 0)
  end
end

local function append(path, data)
  local f, err = io.open(path, 'ab')
  if not f then error('lm: cannot append to ' .. path .. ': ' .. tostring(err), 0) end
  -- One buffer, one write(2) on close: O_APPEND keeps concurrent entries whole.
  f:setvbuf('full', #data + 16)
  f:write(data)
  f:close()
end

local function load_file(path)
  local s = readfile(path)
  if not s then return nil end
  local v, err = M.deserialize(s, path)
  if err then error('lm: corrupt file ' .. path .. ': ' .. err, 0) end
  return v
end

local function store_file(path, v)
  atomic_write(path, M.serialize(v) .. '\n')
end

---------------------------------------------------------------------------------------------------
-- Group addresses

function M.encodega(s)
  if type(s) == 'number' then return s end
  local a, b, c = tostring(s):match('^%s*(%d+)/(%d+)/(%d+)%s*$')
  if not a then return nil end
  a, b, c = tonumber(a), tonumber(b), tonumber(c)
  if a > 63 or b > 7 or c > 255 then return nil end
  return a * 2048 + b * 256 + c
end

function M.decodega(raw)
  raw = tonumber(raw)
  if not raw or raw < 0 or raw % 1 ~= 0 or raw >= 64 * 2048 then return nil end
  local a = math.floor(raw / 2048)
  local b = math.floor((raw % 2048) / 256)
  return string.format('%d/%d/%d', a, b, raw % 256)
end

local function encodeia(s)
  local a, b, c = tostring(s):match('^(%d+)%.(%d+)%.(%d+)$')
  if not a then return nil end
  return tonumber(a) * 4096 + tonumber(b) * 256 + tonumber(c)
end

local function decodeia(raw)
  raw = tonumber(raw)
  if not raw then return nil end
  return string.format('%d.%d.%d', math.floor(raw / 4096), math.floor((raw % 4096) / 256), raw % 256)
end

---------------------------------------------------------------------------------------------------
-- DPT values: what LM stores after encoding and decoding a value for the object's datatype.

local int_range = {
  [dt.bit2] = { 0, 3 }, [dt.bit4] = { 0, 15 }, [dt.uint8] = { 0, 255 }, [dt.scale] = { 0, 100 },
  [dt.angle] = { 0, 360 }, [dt.int8] = { -128, 127 }, [dt.uint16] = { 0, 65535 },
  [dt.int16] = { -32768, 32767 }, [dt.uint24] = { 0, 16777215 }, [dt.rgb] = { 0, 16777215 },
  [dt.uint32] = { 0, 4294967295 }, [dt.int32] = { -2147483648, 2147483647 },
  [dt.int64] = { -2 ^ 63, 2 ^ 63 },
}

local function toboolean(v)
  if type(v) == 'boolean' then return v end
  if type(v) == 'number' then return v ~= 0 end
  if type(v) == 'string' then
    local s = v:lower():match('^%s*(.-)%s*$')
    return s == 'true' or s == '1' or s == 'yes' or s == 'on'
  end
  return false
end
M.toboolean = toboolean

local function intfield(t, k, lo, hi, default)
  local v = tonumber(t[k])
  if v == nil then
    if default ~= nil then return default end
    return nil
  end
  v = math.floor(v + 0.5)
  if v < lo or v > hi then return nil end
  return v
end

-- Returns the stored value, or nil and an error when LM could not encode it.
function M.convert(datatype, value)
  if value == nil then return nil, 'nil value' end
  if datatype == nil then return deepcopy(value) end
  if datatype == dt.bool then return toboolean(value) end
  if int_range[datatype] then
    local n = tonumber(value)
    if type(value) == 'boolean' then n = value and 1 or 0 end
    if not n then return nil, 'cannot encode ' .. tostring(value) .. ' as an integer' end
    n = math.floor(n + 0.5)
    local r = int_range[datatype]
    if n < r[1] then n = r[1] end
    if n > r[2] then n = r[2] end
    return n
  end
  if datatype == dt.float16 or datatype == dt.float32 then
    local n = tonumber(value)
    if not n then return nil, 'cannot encode ' .. tostring(value) .. ' as a float' end
    return n
  end
  if datatype == dt.char then
    return tostring(value):sub(1, 1)
  end
  if datatype == dt.string then
    -- DPT 16: 14 bytes, NULs stripped on decode.
    return (tostring(value):sub(1, 14):gsub('%z', ''))
  end
  if datatype == dt.text then
    return (tostring(value):sub(1, 250))
  end
  if datatype == dt.date then
    if type(value) ~= 'table' then return nil, 'a date is a table {day, month, year}' end
    local d = { day = intfield(value, 'day', 1, 31), month = intfield(value, 'month', 1, 12),
                year = intfield(value, 'year', 1990, 2089) }
    if not (d.day and d.month and d.year) then return nil, 'invalid date' end
    return d
  end
  if datatype == dt.time then
    if type(value) ~= 'table' then return nil, 'a time is a table {day, hour, minute, second}' end
    local v = { day = value.day, hour = value.hour, minute = value.minute or value.min,
                second = value.second or value.sec }
    local t = { day = intfield(v, 'day', 0, 7, 0), hour = intfield(v, 'hour', 0, 23),
                minute = intfield(v, 'minute', 0, 59), second = intfield(v, 'second', 0, 59, 0) }
    if not (t.day and t.hour and t.minute and t.second) then return nil, 'invalid time' end
    -- LM decodes a time with `min` and `sec` as aliases of minute and second.
    t.min, t.sec = t.minute, t.second
    return t
  end
  return deepcopy(value)
end

-- The telegram bytes of a stored value (grp.find's `data`/`datahex`, event.datahex/datalen):
-- KNX encodings for the common datatypes; other values as their text.
local function be_bytes(n, len)
  local out = {}
  n = math.floor(n)
  if n < 0 then n = n + 2 ^ (8 * len) end
  for i = len, 1, -1 do
    out[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(out)
end

local function float16_bytes(f)
  local e, m = 0, f * 100
  while (m < -2048 or m > 2047) and e < 15 do
    e, m = e + 1, m / 2
  end
  m = math.floor(m + 0.5)
  if m < 0 then m = m + 2048 end
  local hi = (f < 0 and 0x80 or 0) + e * 8 + math.floor(m / 256) % 8
  return string.char(hi, m % 256)
end

local function float32_bytes(f)
  if f == 0 then return string.rep('\0', 4) end
  local sign = f < 0 and 1 or 0
  local m, e = math.frexp(math.abs(f))  -- 0.5 <= m < 1
  local bits = math.floor((m * 2 - 1) * 2 ^ 23 + 0.5)
  return be_bytes(sign * 2 ^ 31 + (e + 126) * 2 ^ 23 + bits, 4)
end

local byte_len = {
  [dt.bool] = 1, [dt.bit2] = 1, [dt.bit4] = 1, [dt.uint8] = 1, [dt.int8] = 1, [dt.uint16] = 2,
  [dt.int16] = 2, [dt.uint24] = 3, [dt.rgb] = 3, [dt.uint32] = 4, [dt.int32] = 4, [dt.int64] = 8,
}

function M.encode(datatype, v)
  if v == nil then return '' end
  if datatype == dt.bool then return string.char(v and 1 or 0) end
  if datatype == dt.scale then return string.char(math.floor(v * 255 / 100 + 0.5)) end
  if datatype == dt.angle then return string.char(math.floor(v * 255 / 360 + 0.5)) end
  if byte_len[datatype] then return be_bytes(v, byte_len[datatype]) end
  if datatype == dt.float16 then return float16_bytes(v) end
  if datatype == dt.float32 then return float32_bytes(v) end
  if datatype == dt.string then return v .. string.rep('\0', 14 - #v) end
  if datatype == dt.date then return string.char(v.day, v.month, v.year % 100) end
  if datatype == dt.time then return string.char(v.day * 32 + v.hour, v.minute, v.second) end
  return type(v) == 'table' and M.serialize(v) or tostring(v)
end

function M.hex(bytes)
  return (bytes:gsub('.', function(c) return string.format('%02x', c:byte()) end))
end

---------------------------------------------------------------------------------------------------
-- Site state

local Site = {}
Site.__index = Site

function M.open_site(dir)
  assert(type(dir) == 'string' and dir ~= '', 'lm: a site directory is required')
  dir = dir:gsub('/+$', '')
  return setmetatable({ dir = dir }, Site)
end

function Site:path(name) return self.dir .. '/' .. name end

function Site:defs()
  return load_file(self:path('objects.db')) or {}
end

function Site:save_defs(defs)
  store_file(self:path('objects.db'), defs)
end

-- LuaSocket, when the host has it, for sub-second clocks and sleeps (taken before a script's
-- module paths are set, so a script with LM's paths only does not see it).
local has_socket, socket_mod = pcall(require, 'socket')
if not (has_socket and type(socket_mod) == 'table' and socket_mod.gettime) then socket_mod = nil end
M.socket_modules = { 'socket', 'socket.core' }

local function now()
  if socket_mod then return socket_mod.gettime() end
  return os.time()
end
M.now = now

local function value_path(site, raw)
  return site:path('obj_' .. string.format('%d', raw) .. '.val')
end

-- The value a reader sees now: grp.update/grp.write queue the new value (LM's bus daemon stores
-- it a moment later); a pending write lands at its `at` time. `settled`: every pending write as
-- landed (what a person sees afterwards, for the test harness).
local function landed(rec, settled)
  if not rec or not rec.pending then return rec end
  local t = now()
  local out = { value = rec.value, updatetime = rec.updatetime }
  local left = {}
  for _, p in ipairs(rec.pending) do
    if settled or p.at <= t then
      out.value, out.updatetime = p.value, p.updatetime
    else
      left[#left + 1] = p
    end
  end
  if #left > 0 then out.pending = left end
  return out
end

function Site:value_rec(raw, settled)
  return landed(load_file(value_path(self, raw)), settled)
end

-- Stores a value, visible to readers after `delay` seconds (0: at once).
function Site:set_value(raw, value, time, delay)
  time = time or os.time()
  local rec = { value = value, updatetime = time }
  if delay and delay > 0 then
    rec = self:value_rec(raw) or { value = nil, updatetime = 0 }
    rec.pending = rec.pending or {}
    -- Without LuaSocket the clock has whole seconds: one more second keeps a read right after
    -- the write (within that second) on the old value.
    local at = now() + delay + (socket_mod and 0 or 1)
    rec.pending[#rec.pending + 1] = { value = value, updatetime = time, at = at, by = pid() }
  end
  store_file(value_path(self, raw), rec)
end

local function sorted_raws(defs)
  local raws = {}
  for raw in pairs(defs) do raws[#raws + 1] = raw end
  table.sort(raws)
  return raws
end

-- alias: raw number, 'a/b/c' or an object name. Returns raw, def.
function Site:resolve(alias, defs)
  defs = defs or self:defs()
  if type(alias) == 'number' then
    if alias % 1 ~= 0 then return nil end
    return alias, defs[alias]
  end
  if type(alias) ~= 'string' then return nil end
  local raw = M.encodega(alias)
  if raw then return raw, defs[raw] end
  for _, r in ipairs(sorted_raws(defs)) do
    if defs[r].name == alias then return r, defs[r] end
  end
  return nil
end

local function tagcache(tags)
  return table.concat(tags or {}, ', ')
end

local Obj = {}
Obj.__index = Obj

-- An object as grp.find returns it: empty columns are '' (not nil), plus LM's data columns.
function Site:object(raw, def, settled)
  local rec = self:value_rec(raw, settled) or {}
  local ok, data = pcall(M.encode, def.datatype, rec.value)
  if not ok then data = '' end
  local o = {
    address = def.address, id = raw, name = def.name or '', datatype = def.datatype,
    decoded = def.datatype ~= nil, value = rec.value, comment = def.comment or '',
    units = def.units or '', tagcache = tagcache(def.tags), updatetime = rec.updatetime or 0,
    data = data, datahex = M.hex(data), export = false, pollinterval = '',
  }
  return setmetatable(o, Obj), rec.pending
end

local function normalize_tags(tags)
  if tags == nil then return {} end
  if type(tags) == 'string' then
    local list = {}
    for tag in tags:gmatch('[^,]+') do
      tag = tag:match('^%s*(.-)%s*$')
      if tag ~= '' then list[#list + 1] = tag end
    end
    return list
  end
  local list = {}
  for _, tag in ipairs(tags) do list[#list + 1] = tostring(tag) end
  return list
end

local function dtype_of(v)
  if type(v) == 'string' then
    local n = dt[v]
    if not n then error('lm: unknown datatype ' .. v, 0) end
    return n
  end
  return v
end

-- Creates or updates (same address) one object. Returns the address string.
function Site:create(spec, defs)
  local own = defs == nil
  defs = defs or self:defs()
  local raw
  if spec.address ~= nil then
    raw = type(spec.address) == 'number' and spec.address or M.encodega(spec.address)
    if not raw then return nil, 'invalid address ' .. tostring(spec.address) end
  else
    -- Next free address of the standard range (from 1/1/1) or the virtual one (from 32/1/1).
    raw = spec.virtual and (32 * 2048 + 256 + 1) or (2048 + 256 + 1)
    while defs[raw] do raw = raw + 1 end
  end
  local old = defs[raw] or {}
  local def = {
    address = M.decodega(raw),
    name = spec.name or old.name,
    datatype = dtype_of(spec.datatype) or old.datatype,
    comment = spec.comment or old.comment,
    units = spec.units or old.units,
    tags = spec.tags ~= nil and normalize_tags(spec.tags) or old.tags or {},
  }
  if def.name == nil then def.name = def.address end
  defs[raw] = def
  if own then self:save_defs(defs) end
  if spec.value ~= nil then
    local v, err = M.convert(def.datatype, spec.value)
    if err then return nil, err end
    self:set_value(raw, v)
  elseif not self:value_rec(raw) then
    -- LM objects start at the datatype's zero value.
    local zero
    if def.datatype == dt.bool then zero = false
    elseif def.datatype == dt.string or def.datatype == dt.text or def.datatype == dt.char then zero = ''
    elseif def.datatype == dt.date then zero = { day = 0, month = 0, year = 2000 }  -- never set
    elseif def.datatype == dt.time then zero = { day = 0, hour = 0, minute = 0, second = 0, min = 0, sec = 0 }
    elseif def.datatype ~= nil then zero = 0 end
    if zero ~= nil then self:set_value(raw, zero, 0) end
  end
  return def.address
end

---------------------------------------------------------------------------------------------------
-- Logging (LM's log tab style: "* type: value" for each argument, tables expanded with indented
-- keys in pairs() order, as LM shows them: unsorted)

local type_names = { boolean = 'bool' }

local function dump(v, indent, out, seen)
  local t = type(v)
  local pad = string.rep(' ', indent)
  if t == 'table' then
    if seen[v] then
      out[#out + 1] = pad .. '* table: (recursive)'
      return
    end
    seen[v] = true
    out[#out + 1] = pad .. '* table:'
    for k, x in pairs(v) do
      local ks = type(k) == 'string' and string.format('[%q]', k) or '[' .. tostring(k) .. ']'
      out[#out + 1] = pad .. ' ' .. ks
      dump(x, indent + 2, out, seen)
    end
    seen[v] = nil
  elseif t == 'nil' then
    out[#out + 1] = pad .. '* nil'
  else
    out[#out + 1] = pad .. '* ' .. (type_names[t] or t) .. ': ' .. tostring(v)
  end
end

function M.format_log(...)
  local out = {}
  for i = 1, select('#', ...) do
    dump((select(i, ...)), 0, out, {})
  end
  return table.concat(out, '\n')
end

-- LM cuts alert and error texts at 1024 characters.
M.TEXT_MAX = 1024
local function cut(text)
  return text:sub(1, M.TEXT_MAX)
end

-- An entry: a header line "YYYY-MM-DD HH:MM:SS <script>" at column 0, then its text with every
-- line indented by two spaces, so entries can be split again (M.read_entries).
function Site:entry(file, script, text)
  local lines = { os.date('%Y-%m-%d %H:%M:%S') .. ' ' .. (script or '?') }
  for line in (tostring(text) .. '\n'):gmatch('(.-)\n') do
    lines[#lines + 1] = '  ' .. line
  end
  append(self:path(file), table.concat(lines, '\n') .. '\n')
end

function M.read_entries(path)
  local s = readfile(path)
  local entries = {}
  if not s then return entries end
  local cur
  for line in s:gmatch('([^\n]*)\n') do
    local date, time, script = line:match('^(%d%d%d%d%-%d%d%-%d%d) (%d%d:%d%d:%d%d) (.*)$')
    if date then
      cur = { time = date .. ' ' .. time, script = script, lines = {} }
      entries[#entries + 1] = cur
    elseif cur then
      cur.lines[#cur.lines + 1] = line:sub(3)
    end
  end
  for _, e in ipairs(entries) do
    e.text = table.concat(e.lines, '\n')
    e.lines = nil
  end
  return entries
end

---------------------------------------------------------------------------------------------------
-- Site creation

-- objects: array of { address=, name=, datatype=, value=, comment=, tags=, units= }; datatype may
-- be a dt number or its name. Existing objects at the same address are replaced.
-- objects.event_scripts (optional): the site's event scripts, { { tag = 'PassCode' | address =
-- '1/1/0', script = FILE, name = NAME }, ... }: a write of a script to a matching object starts
-- them (recorded in events.txt, see M.read_events).
function M.site_create(dir, objects)
  local site = M.open_site(dir)
  local probe = io.open(dir .. '/.', 'rb')
  if probe then
    probe:close()
  else
    local ok = os.execute('mkdir -p ' .. "'" .. dir:gsub("'", "'\\''") .. "'")
    if ok ~= 0 and ok ~= true then error('lm: cannot create site directory ' .. dir, 0) end
  end
  local defs = site:defs()
  for _, spec in ipairs(objects or {}) do
    local addr, err = site:create(spec, defs)
    if not addr then error('lm: object ' .. tostring(spec.address or spec.name) .. ': ' .. err, 0) end
  end
  site:save_defs(defs)
  if objects and objects.event_scripts then
    local list = site:event_scripts()
    for _, e in ipairs(objects.event_scripts) do
      assert(e.script and (e.tag or e.address), 'lm: an event script needs script and tag or address')
      list[#list + 1] = { tag = e.tag, address = e.address and M.decodega(M.encodega(e.address)),
                          script = e.script, name = e.name or e.script:match('([^/]+)%.lua$') }
    end
    store_file(site:path('scripts.db'), list)
  end
  return site
end

function Site:event_scripts()
  return load_file(self:path('scripts.db')) or {}
end

-- The event scripts a write to object `def` starts: those on its address or one of its tags.
function Site:event_scripts_for(def)
  local have = {}
  for _, t in ipairs(def.tags or {}) do have[t] = true end
  local out = {}
  for _, e in ipairs(self:event_scripts()) do
    if (e.address and e.address == def.address) or (e.tag and have[e.tag]) then out[#out + 1] = e end
  end
  return out
end

-- Event script runs started by the scripts' writes, in order: { { name, script, dst, tag, value,
-- sender, by }, ... } (`by`: the script whose write started it).
function M.read_events(dir)
  local s = readfile(dir .. '/events.txt')
  local out = {}
  for line in (s or ''):gmatch('[^\n]+') do
    out[#out + 1] = assert(M.deserialize(line, 'events.txt'))
  end
  return out
end

---------------------------------------------------------------------------------------------------
-- Globals

local function here()
  local src = debug and debug.getinfo and debug.getinfo(1, 'S').source or ''
  return (src:match('^@(.*)/[^/]*$')) or '.'
end
-- Taken at load: scripts run without the debug library.
local HERE = here()
local traceback = debug.traceback

function M.repo_root()
  local env = os.getenv('TTLOCK_REPO')
  if env and env ~= '' then return env end
  return HERE .. '/../..'
end

local function sleep_impl(sec)
  sec = tonumber(sec) or 0
  if sec <= 0 then return end
  if socket_mod and socket_mod.sleep then
    socket_mod.sleep(sec)
  else
    os.execute(string.format('sleep %.3f', sec))
  end
end

local function now_us()
  local t = now()
  local s = math.floor(t)
  return s, math.floor((t - s) * 1e6)
end

-- LM's module paths, as a script there sees them.
M.LM_PATH = './?.lua;/usr/lib/lua/?.lua;/usr/share/lua/?.lua;'
M.LM_CPATH = '/usr/lib/lua/?.so;'
-- The host's, as this process started (Debian's LuaSocket, LuaSec and cjson live there).
M.HOST_PATH, M.HOST_CPATH = package.path, package.cpath

local function setting(opt, env)
  if opt ~= nil then return opt end
  local v = os.getenv(env)
  if v == nil or v == '' then return nil end
  return v
end

-- require('user.NAME') finds LM's user library NAME (Scripting -> User libraries): the emulator
-- keeps them in DIR/user/NAME.lua (the site's), then <repo>/lua/user/NAME.lua. The chunk is named
-- as LM names it in errors: "User library NAME".
local user_loader
local function install_user_loader(site, repo)
  local loaders = package.loaders or package.searchers
  for i = #loaders, 1, -1 do
    if loaders[i] == user_loader then table.remove(loaders, i) end
  end
  user_loader = function(name)
    local lib = name:match('^user%.(.+)$')
    if not lib then return nil end
    local tried = {}
    for _, dir in ipairs({ site.dir .. '/user/', repo .. '/lua/user/' }) do
      local file = dir .. lib:gsub('%.', '/') .. '.lua'
      local src = readfile(file)
      if src then
        local chunk, err = loadstring(src, '=User library ' .. lib)
        if not chunk then error(err, 0) end
        return chunk
      end
      tried[#tried + 1] = "\n\tno user library '" .. lib .. "' (" .. file .. ')'
    end
    return table.concat(tried)
  end
  table.insert(loaders, 2, user_loader)
end

function M.install_globals(opts)
  opts = opts or {}
  local site = M.open_site(assert(opts.site, 'lm.install_globals: site is required'))
  local script = opts.script_name or 'script'
  local repo = opts.repo or M.repo_root()
  -- Seconds until a grp.update/grp.write is visible to readers (LM: up to about a second).
  local delay = tonumber(setting(opts.grp_delay, 'LM_GRP_DELAY')) or 0
  -- false: LM's module paths only (the project's scripts need nothing else).
  local host_paths = setting(opts.host_paths, 'LM_HOST_PATHS')
  host_paths = not (host_paths == false or host_paths == '0')
  -- Who writes: an event script ('se') or a scheduled one ('ss'), as event.sender tells.
  local sender = opts.event and 'se' or 'ss'
  M.current_site = site

  package.path = M.LM_PATH .. (host_paths and M.HOST_PATH or '')
  package.cpath = M.LM_CPATH .. (host_paths and M.HOST_CPATH or '')
  if not host_paths then
    for _, m in ipairs(M.socket_modules) do package.loaded[m] = nil end
  end
  install_user_loader(site, repo)
  package.loaded.json = nil
  package.preload.json = function()
    -- LM's json is a C module; lua-cjson stands in, or a plain-Lua codec on hosts without it.
    local ok, cjson = pcall(require, 'cjson')
    if not ok then
      cjson = dofile(HERE .. '/purejson.lua')
    elseif cjson.new then
      cjson = cjson.new()
    end
    local json = { null = cjson.null }
    function json.encode(v) return cjson.encode(v) end
    function json.decode(s) return cjson.decode(s) end
    function json.pdecode(s)
      local ok, v = pcall(cjson.decode, s)
      if ok then return v end
      return nil, v
    end
    return json
  end

  _G.dt = deepcopy(dt)
  _G.toboolean = toboolean

  local grp = {}
  -- A read of an object this process wrote and LM has not stored yet gets the old value; the
  -- emulator notes it in readback.txt (a script reading back its own write is a bug on LM).
  local function find(alias)
    local defs = site:defs()
    local raw, def = site:resolve(alias, defs)
    if not def then return nil, 'not found' end
    local o, pending = site:object(raw, def)
    for _, p in ipairs(pending or {}) do
      if p.by == pid() then
        site:entry('readback.txt', script, def.address)
        break
      end
    end
    return o
  end

  -- A write goes through LM's bus daemon: readers see it after `delay` seconds, and it starts the
  -- event scripts of the object (not for a group response, nor for the event's own telegram).
  local function store(alias, value, dtype, how)
    local defs = site:defs()
    local raw, def = site:resolve(alias, defs)
    if not def then return nil, 'object not found: ' .. tostring(alias) end
    local v, err = M.convert(dtype_of(dtype) or def.datatype, value)
    if err then return nil, err end
    if def.datatype ~= nil and dtype ~= nil and dtype_of(dtype) ~= def.datatype then
      v, err = M.convert(def.datatype, v)
      if err then return nil, err end
    end
    site:set_value(raw, v, nil, how ~= 'event' and delay or 0)
    if how == 'write' or how == 'event' then
      append(site:path('bus.txt'), string.format('%s write %s %s\n', script, def.address, M.serialize(v)))
    end
    if how == 'write' or how == 'update' then
      for _, e in ipairs(site:event_scripts_for(def)) do
        append(site:path('events.txt'), M.serialize({ name = e.name, script = e.script, dst = def.address,
          tag = e.tag or '', value = v, sender = sender, by = script }) .. '\n')
      end
    end
    return true
  end

  local function changed(alias, value, delta)
    local o = find(alias)
    if not o then return true end
    local cur = o.value
    if type(cur) == 'number' and tonumber(value) then
      if delta == nil then
        delta = (o.datatype == dt.float16 or o.datatype == dt.float32) and 0.1 or 1
      end
      return math.abs(tonumber(value) - cur) >= delta
    end
    local v = M.convert(o.datatype, value)
    return not deepeq(cur, v)
  end

  function grp.find(alias) return find(alias) end
  function grp.getvalue(alias)
    local o, err = find(alias)
    if not o then return nil, err end
    return o.value
  end
  function grp.update(alias, value, dtype) return store(alias, value, dtype, 'update') end
  function grp.write(alias, value, dtype) return store(alias, value, dtype, 'write') end
  function grp.response(alias, value, dtype) return store(alias, value, dtype, 'response') end
  function grp.read(alias) return find(alias) ~= nil end
  function grp.readvalue(alias) return grp.getvalue(alias) end
  function grp.checkupdate(alias, value, delta)
    if changed(alias, value, delta) then return grp.update(alias, value) end
    return false
  end
  function grp.checkwrite(alias, value, delta, status)
    if changed(status or alias, value, delta) then return grp.write(alias, value) end
    return false
  end
  function grp.checkresponse(alias, value, delta)
    if changed(alias, value, delta) then return grp.response(alias, value) end
    return false
  end

  local Bulk = {}
  Bulk.__index = Bulk
  for _, m in ipairs({ 'write', 'update', 'response', 'checkwrite', 'checkupdate', 'checkresponse' }) do
    Bulk[m] = function(list, ...)
      local ok = true
      for _, o in ipairs(list) do
        if not grp[m](o.id, ...) then ok = false end
      end
      return ok
    end
  end

  function grp.tag(tags, mode)
    local want = type(tags) == 'table' and tags or { tags }
    local all = mode == 'all' or mode == 'and'
    local defs = site:defs()
    local list = setmetatable({}, Bulk)
    for _, raw in ipairs(sorted_raws(defs)) do
      local have = {}
      for _, t in ipairs(defs[raw].tags or {}) do have[t] = true end
      local n = 0
      for _, t in ipairs(want) do
        if have[t] then n = n + 1 end
      end
      if (all and n == #want and n > 0) or (not all and n > 0) then
        list[#list + 1] = site:object(raw, defs[raw])
      end
    end
    return list
  end

  function grp.all()
    local defs = site:defs()
    local list = setmetatable({}, Bulk)
    for _, raw in ipairs(sorted_raws(defs)) do list[#list + 1] = site:object(raw, defs[raw]) end
    return list
  end

  function grp.gettags(alias)
    local _, def = site:resolve(alias)
    if not def then return nil end
    return deepcopy(def.tags or {})
  end

  local function edit_tags(alias, f)
    local defs = site:defs()
    local _, def = site:resolve(alias, defs)
    if not def then return nil, 'object not found: ' .. tostring(alias) end
    def.tags = f(def.tags or {})
    site:save_defs(defs)
    return true
  end
  function grp.settags(alias, tags)
    return edit_tags(alias, function() return normalize_tags(tags) end)
  end
  function grp.addtags(alias, tags)
    return edit_tags(alias, function(cur)
      local have = {}
      for _, t in ipairs(cur) do have[t] = true end
      for _, t in ipairs(normalize_tags(tags)) do
        if not have[t] then cur[#cur + 1] = t; have[t] = true end
      end
      return cur
    end)
  end
  function grp.removetags(alias, tags)
    return edit_tags(alias, function(cur)
      local drop = {}
      for _, t in ipairs(normalize_tags(tags)) do drop[t] = true end
      local keep = {}
      for _, t in ipairs(cur) do
        if not drop[t] then keep[#keep + 1] = t end
      end
      return keep
    end)
  end
  function grp.removealltags(alias) return grp.settags(alias, {}) end

  -- Address to name, name to address.
  function grp.alias(alias)
    local raw, def = site:resolve(alias)
    if not def then return nil end
    if type(alias) == 'string' and not M.encodega(alias) then return def.address end
    return def.name
  end

  function grp.create(spec)
    if type(spec) ~= 'table' then return nil, 'grp.create expects a table' end
    return site:create(spec)
  end

  function grp.delete(alias)
    local defs = site:defs()
    local raw, def = site:resolve(alias, defs)
    if not def then return nil, 'object not found' end
    defs[raw] = nil
    site:save_defs(defs)
    os.remove(value_path(site, raw))
    return true
  end

  _G.grp = grp

  Obj.update = function(o, v, d) return grp.update(o.id, v, d) end
  Obj.write = function(o, v, d) return grp.write(o.id, v, d) end
  Obj.response = function(o, v, d) return grp.response(o.id, v, d) end
  Obj.read = function(o) return grp.read(o.id) end
  Obj.checkupdate = function(o, v, delta) return grp.checkupdate(o.id, v, delta) end
  Obj.checkwrite = function(o, v, delta) return grp.checkwrite(o.id, v, delta) end
  Obj.checkresponse = function(o, v, delta) return grp.checkresponse(o.id, v, delta) end

  local codec = {
    encodega = function(s) return M.encodega(s) end,
    decodega = M.decodega, encodeia = encodeia, decodeia = decodeia,
  }
  _G.buslib = codec
  _G.knxlib = codec

  -- storage: one file per key, named by the key's hex bytes.
  local function keyfile(key)
    if type(key) ~= 'string' or key == '' then error('storage: key must be a non-empty string', 2) end
    if #key > 100 then error('storage: key longer than 100 bytes', 2) end
    return site:path('st_' .. key:gsub('.', function(c) return string.format('%02x', c:byte()) end) .. '.val')
  end
  local storage = {}
  function storage.get(key, default)
    local rec = load_file(keyfile(key))
    if rec == nil or rec.value == nil then
      if default ~= nil then return default end
      return nil, 'key not found or invalid type'
    end
    return rec.value
  end
  -- Every write is also counted, one line per key in storage-writes.txt (tests bound them).
  local function count_write(key)
    local f = io.open(site:path('storage-writes.txt'), 'ab')
    if f then f:write(key, '\n') f:close() end
  end
  function storage.set(key, value)
    local path = keyfile(key)
    count_write(key)
    -- LM stores nil as the text 'nil' (storage.delete deletes).
    if value == nil then value = 'nil' end
    local ok, s = pcall(function() return M.serialize({ value = M.storable(value) }) end)
    if not ok then return nil, 'storage: ' .. tostring(s) end
    atomic_write(path, s .. '\n')
    return true
  end
  function storage.delete(key)
    local path = keyfile(key)
    if not io.open(path, 'rb') then return false end
    os.remove(path)
    return true
  end
  _G.storage = storage

  function _G.log(...)
    site:entry('log.txt', script, M.format_log(...))
  end
  -- string.format only when there are arguments to format; LM keeps 1024 characters.
  function _G.alert(fmt, ...)
    local msg
    if select('#', ...) > 0 then msg = string.format(fmt, ...) else msg = tostring(fmt) end
    site:entry('alerts.txt', script, cut(msg))
  end

  os.sleep = sleep_impl
  _G.sleep = sleep_impl
  os.microtime = now_us
  function os.udifftime(sec, usec)
    local s, u = now_us()
    return (s - sec) + (u - (usec or 0)) / 1e6
  end
  function math.round(x, digits)
    local m = 10 ^ (digits or 0)
    return math.floor(x * m + 0.5) / m
  end

  function string.split(s, sep)
    sep = sep or ','
    local parts, start = {}, 1
    if sep == '' then
      for c in s:gmatch('.') do parts[#parts + 1] = c end
      return parts
    end
    while true do
      local i, j = s:find(sep, start, true)
      if not i then
        parts[#parts + 1] = s:sub(start)
        return parts
      end
      parts[#parts + 1] = s:sub(start, i - 1)
      start = j + 1
    end
  end
  function string.trim(s)
    return (s:gsub('^%s+', ''):gsub('%s+$', ''))
  end

  function io.exists(path)
    local f = io.open(path, 'rb')
    if f then f:close(); return true end
    return false
  end
  io.readfile = readfile
  function io.writefile(path, data)
    local f, err = io.open(path, 'wb')
    if not f then return nil, err end
    f:write(data)
    f:close()
    return true
  end

  -- The event: the telegram's value is in the object when the script starts (the event script
  -- runs once LM has stored it), and the script sees it through event.getvalue(). A write from
  -- the visualisation (sender 'vi') or a script ('se', 'ss') is local: src 'local', srcraw 0.
  if opts.event then
    local ev = opts.event
    local raw, def = site:resolve(ev.dst)
    if not def then error('lm: no object ' .. tostring(ev.dst) .. ' in the site', 0) end
    local ok, err = store(raw, ev.value, nil, 'event')
    if not ok then error('lm: event value: ' .. tostring(err), 0) end
    local value = site:value_rec(raw).value
    local data = M.encode(def.datatype, value)
    _G.event = {
      datahex = M.hex(data), datalen = #data, dst = def.address, dstraw = raw,
      getvalue = function() return deepcopy(value) end,
      meta = {}, nobuswrite = false, sender = ev.sender or 'vi',
      src = ev.src or 'local', srcraw = ev.src and encodeia(ev.src) or 0,
      tag = ev.tag or '', type = ev.type or 'groupwrite',
    }
  else
    _G.event = nil
  end
  return site
end

-- Records a script error the way LM shows it: in its error log only (not in the log tab).
function M.script_error(site, script, err)
  site:entry('errors.txt', script, cut(tostring(err)))
end

-- Runs one script file as LM would. Returns true, or false and the error text.
function M.run_script(opts)
  local name = opts.script_name or (opts.script:match('([^/]+)$') or opts.script):gsub('%.lua$', '')
  opts.script_name = name
  local site = M.install_globals(opts)
  local src = readfile(opts.script)
  if not src then error('lm: cannot read ' .. opts.script, 0) end
  -- LM names the chunk "User script" in its error log.
  local chunk, err = loadstring(src, '=User script')
  if not chunk then
    M.script_error(site, name, err)
    return false, err
  end
  -- Scripts on LM have no debug library.
  _G.debug, package.loaded.debug = nil, nil
  local ok, rerr = xpcall(chunk, function(e)
    local tb = traceback(tostring(e), 2)
    -- LM's error log shows the script's frames only, not the emulator's.
    return (tb:gsub('\n%s*%[C%]: in function \'xpcall\'.*$', ''))
  end)
  if not ok then
    M.script_error(site, name, rerr)
    return false, rerr
  end
  return true
end

return M
