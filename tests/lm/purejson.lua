-- A small JSON codec in plain Lua, used when lua-cjson is not installed (e.g. a musl-built Lua
-- under qemu). Same surface as the parts of cjson the emulator and testlib use: encode, decode
-- (raises on bad input) and null. Empty tables encode as {} like cjson.
--
-- It is also the tests' one JSON encoder: M.encode_sorted(v, null) is the deterministic form
-- testlib's T.json uses (keys sorted, so two encodings of equal data are equal strings; integers
-- written out in full below 2^53, other numbers with 17 digits; empty tables as [] unless
-- marked with M.object; `null`, e.g. cjson.null, also encodes as null).
local M = {}

M.null = setmetatable({}, { __tostring = function() return 'null' end })

-- A table marked as a JSON object: encodes as {} even when empty (encode_sorted).
local OBJECT = {}
function M.object(t) return setmetatable(t or {}, OBJECT) end

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

-- o: nil for cjson's form, or encode_sorted's options { null = another null value }.
local function enc(v, out, o)
  local t = type(v)
  if v == nil or v == M.null or (o and v == o.null) then
    out[#out + 1] = 'null'
  elseif t == 'boolean' then
    out[#out + 1] = tostring(v)
  elseif t == 'number' then
    if v ~= v or v == math.huge or v == -math.huge then error('json: cannot encode ' .. tostring(v)) end
    if not o then
      out[#out + 1] = string.format('%.14g', v)
    elseif v % 1 == 0 and math.abs(v) < 2 ^ 53 then
      out[#out + 1] = string.format('%.0f', v)
    else
      out[#out + 1] = string.format('%.17g', v)
    end
  elseif t == 'string' then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c)
      return escapes[c] or string.format('\\u%04x', c:byte())
    end) .. '"'
  elseif t == 'table' then
    local n, count = #v, 0
    for _ in pairs(v) do count = count + 1 end
    local array
    if o then
      array = getmetatable(v) ~= OBJECT and count == n
    else
      array = n > 0 and count == n
    end
    if array then
      out[#out + 1] = '['
      for i = 1, n do
        if i > 1 then out[#out + 1] = ',' end
        enc(v[i], out, o)
      end
      out[#out + 1] = ']'
    elseif o then
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = '{'
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = ',' end
        local x = v[k]
        if x == nil then x = v[tonumber(k)] end
        enc(k, out, o)
        out[#out + 1] = ':'
        enc(x, out, o)
      end
      out[#out + 1] = '}'
    else
      out[#out + 1] = '{'
      local first = true
      for k, x in pairs(v) do
        if not first then out[#out + 1] = ',' end
        first = false
        enc(tostring(k), out)
        out[#out + 1] = ':'
        enc(x, out)
      end
      out[#out + 1] = '}'
    end
  else
    error('json: cannot encode a ' .. t)
  end
end

function M.encode(v)
  local out = {}
  enc(v, out)
  return table.concat(out)
end

-- The deterministic encoding (see the top of the file); `null` is another value that stands for
-- JSON null (cjson.null where the data came from cjson).
function M.encode_sorted(v, null)
  local out = {}
  enc(v, out, { null = null })
  return table.concat(out)
end

local function utf8(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
    0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

function M.decode(s)
  if type(s) ~= 'string' then error('json: expected a string') end
  local pos = 1
  local function fail(msg) error(string.format('json: %s at character %d', msg, pos)) end
  local function ws() pos = s:find('[^ \t\r\n]', pos) or #s + 1 end
  local value
  local function str()
    pos = pos + 1
    local parts = {}
    while true do
      local c = s:sub(pos, pos)
      if c == '' then fail('unterminated string') end
      if c == '"' then pos = pos + 1; break end
      if c == '\\' then
        local e = s:sub(pos + 1, pos + 1)
        local map = { b = '\b', f = '\f', n = '\n', r = '\r', t = '\t', ['"'] = '"', ['\\'] = '\\', ['/'] = '/' }
        if map[e] then
          parts[#parts + 1] = map[e]
          pos = pos + 2
        elseif e == 'u' then
          local cp = tonumber(s:sub(pos + 2, pos + 5), 16) or fail('bad \\u escape')
          pos = pos + 6
          if cp >= 0xD800 and cp < 0xDC00 and s:sub(pos, pos + 1) == '\\u' then
            local lo = tonumber(s:sub(pos + 2, pos + 5), 16)
            if lo and lo >= 0xDC00 and lo < 0xE000 then
              cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
              pos = pos + 6
            end
          end
          parts[#parts + 1] = utf8(cp)
        else
          fail('bad escape')
        end
      else
        local j = s:find('["\\]', pos) or #s + 1
        parts[#parts + 1] = s:sub(pos, j - 1)
        pos = j
      end
    end
    return table.concat(parts)
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == '{' then
      pos = pos + 1
      local obj = {}
      ws()
      if s:sub(pos, pos) == '}' then pos = pos + 1; return obj end
      while true do
        ws()
        if s:sub(pos, pos) ~= '"' then fail('expected a key') end
        local k = str()
        ws()
        if s:sub(pos, pos) ~= ':' then fail("expected ':'") end
        pos = pos + 1
        obj[k] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == '}' then return obj end
        if d ~= ',' then fail("expected ',' or '}'") end
      end
    elseif c == '[' then
      pos = pos + 1
      local arr = {}
      ws()
      if s:sub(pos, pos) == ']' then pos = pos + 1; return arr end
      while true do
        arr[#arr + 1] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == ']' then return arr end
        if d ~= ',' then fail("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    elseif s:find('^true', pos) then
      pos = pos + 4; return true
    elseif s:find('^false', pos) then
      pos = pos + 5; return false
    elseif s:find('^null', pos) then
      pos = pos + 4; return M.null
    else
      local num = s:match('^-?%d+%.?%d*[eE]?[-+]?%d*', pos)
      if not num or num == '' or not tonumber(num) then fail('unexpected input') end
      pos = pos + #num
      return tonumber(num)
    end
  end
  local v = value()
  ws()
  if pos <= #s then fail('trailing characters') end
  return v
end

return M
