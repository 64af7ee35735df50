-- The three scripts of the forum post, extracted from the seed file at run time (never copied into
-- the repository), with only their placeholders filled in. Same approach as
-- tests/forum_fidelity.rs: the post repeats its prose, each code block follows a line `Code:` and
-- runs until a line that ends with a line of the prose (the post glues the prose after the block's
-- last `end`).
local F = {}

local function rtrim(s) return (s:gsub('%s+$', '')) end
local function trim(s) return (s:gsub('^%s+', ''):gsub('%s+$', '')) end

local function ends_with(s, tail) return #tail <= #s and s:sub(-#tail) == tail end

-- The code blocks of the post, in order.
function F.extract_blocks(seed)
  local lines = {}
  for line in (seed .. '\n'):gmatch('([^\n]*)\n') do lines[#lines + 1] = rtrim(line) end
  local first
  for i, l in ipairs(lines) do
    if trim(l) == 'Code:' then first = i break end
  end
  assert(first, 'the seed has no `Code:` line')
  -- Prose lines long enough not to end a code line by chance.
  local prose = {}
  for i = 1, first - 1 do
    if #lines[i] >= 20 then prose[#prose + 1] = lines[i] end
  end
  local blocks = {}
  local i = 1
  while i <= #lines do
    if trim(lines[i]) ~= 'Code:' then
      i = i + 1
    else
      i = i + 1
      local code = {}
      while i <= #lines and trim(lines[i]) ~= 'Code:' do
        local line = lines[i]
        local cut
        for _, p in ipairs(prose) do
          if ends_with(line, p) then cut = p break end
        end
        if cut then
          local head = line:sub(1, #line - #cut)
          if trim(head) ~= '' then code[#code + 1] = head end
          break
        end
        code[#code + 1] = line
        i = i + 1
      end
      blocks[#blocks + 1] = table.concat(code, '\n') .. '\n'
    end
  end
  return blocks
end

local function first_line(s) return s:match('^([^\n]*)') end
local function last_line(s) return rtrim(s):match('([^\n]*)$') end

-- { checkin =, purge =, unlock = } as the post has them.
function F.scripts(seed_path)
  local f = assert(io.open(seed_path, 'rb'), 'cannot read the forum post ' .. seed_path)
  local seed = f:read('*a')
  f:close()
  local b = F.extract_blocks(seed)
  assert(#b == 3, 'the post has three code blocks, found ' .. #b)
  local function check(block, first, marker, last)
    assert(first_line(block) == first, 'unexpected first line: ' .. first_line(block))
    assert(block:find(marker, 1, true), 'marker ' .. marker .. ' missing')
    assert(last_line(block):sub(1, #last) == last, 'unexpected last line: ' .. last_line(block))
  end
  check(b[1], 'local eventAction = event.getvalue()', '/v3/keyboardPwd/add',
    'if lastMessageObj then lastMessageObj:update(msgtxt) end')
  check(b[2], 'local http = require("socket.http")', '/v3/lock/listKeyboardPwd', 'end')
  check(b[3], 'local https = require("ssl.https")', '/v3/lock/unlock',
    'log("Unlock response (" .. tostring(code) .. "): " .. table.concat(response))')
  return { checkin = b[1], purge = b[2], unlock = b[3] }
end

-- Replaces a placeholder that must occur exactly n times (plain text, no patterns).
local function fill(s, placeholder, value, n)
  local out, count, pos = {}, 0, 1
  while true do
    local a, z = s:find(placeholder, pos, true)
    if not a then break end
    out[#out + 1] = s:sub(pos, a - 1)
    out[#out + 1] = value
    count = count + 1
    pos = z + 1
  end
  out[#out + 1] = s:sub(pos)
  assert(count == n, string.format('%d occurrences of %s, expected %d', count, placeholder, n))
  return table.concat(out)
end

-- The scripts with the simulator's app, main door and base URL; nothing else is changed.
function F.filled(scripts, o)
  local base = 'https://euapi.ttlock.com'
  local main = string.format('%d', o.main_door)
  local c = fill(scripts.checkin, 'YOUR_CLIENT_ID', o.client_id, 1)
  c = fill(c, 'YOUR_CLIENT_SECRET', o.client_secret, 1)
  c = fill(c, 'YOUR_MAIN_DOOR_LOCK_ID', main, 1)
  c = fill(c, base, o.base_url, 1)
  local p = fill(scripts.purge, 'YOUR_CLIENT_ID', o.client_id, 1)
  p = fill(p, 'YOUR_MAIN_DOOR_LOCK_ID', main, 1)
  p = fill(p, base, o.base_url, 2)
  local u = fill(scripts.unlock, 'YOUR_CLIENT_ID', o.client_id, 1)
  u = fill(u, base, o.base_url, 1)
  for _, s in ipairs({ c, p, u }) do
    assert(not s:find('YOUR_', 1, true) and not s:find('euapi', 1, true), 'a placeholder is left')
  end
  return { checkin = c, purge = p, unlock = u }
end

return F
