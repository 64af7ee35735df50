-- LogicMachine emulator CLI: runs one script file as LM would, one process per run.
--
--   <interp> tests/lm/run.lua --site DIR --script FILE [--event ALIAS --value VALUE] [--src 1.1.1]
--                             [--sender vi] [--tag TAG] [--name NAME]
--       Event run when --event is given (the value is written to the object first, then the script
--       runs with `event`), else a scheduled/resident run. VALUE is a Lua literal (true, 12,
--       '12345', {day=1, month=2, year=2025}) or JSON; anything else is taken as a plain string.
--       Exit 0 when the script ran without a Lua error; 1 on a script error (written to the site's
--       errors.txt, like LM's Errors tab); 2 on a usage or emulator error.
--       Environment: LM_GRP_DELAY=SECONDS (grp.update/write visible after that long, default 0),
--       LM_HOST_PATHS=0 (LM's module paths only, without the host's).
--   <interp> tests/lm/run.lua --site DIR --create-site OBJECTS.lua
--       OBJECTS.lua returns an array of objects ({address=, name=, datatype=, value=, comment=,
--       tags=}); `dt` is available inside it. Creates the site directory if needed.
--   <interp> tests/lm/run.lua --site DIR --get ALIAS
--       Prints "<type> <value>" for the object's value once every pending write has landed (tables
--       as a Lua literal), or "none" when there is no such object.

local dir = (arg and arg[0] or ''):match('^(.*)/[^/]*$') or '.'
local lm = dofile(dir .. '/lm.lua')

local function usage(msg)
  io.stderr:write('run.lua: ', msg, '\n')
  os.exit(2)
end

local opts = {}
local i = 1
while arg[i] do
  local k = arg[i]
  local key = k:match('^%-%-(.+)$')
  if not key then usage('unexpected argument ' .. k) end
  local v = arg[i + 1]
  if v == nil then usage(k .. ' needs a value') end
  opts[key] = v
  i = i + 2
end

local known = { site = 1, script = 1, event = 1, value = 1, src = 1, sender = 1, tag = 1, name = 1,
                ['create-site'] = 1, get = 1 }
for k in pairs(opts) do
  if not known[k] then usage('unknown option --' .. k) end
end
if not opts.site then usage('--site DIR is required') end

local function parse_value(text)
  local v = lm.deserialize(text, 'value')
  if v ~= nil then return v end
  local okj, cjson = pcall(require, 'cjson')
  if not okj then cjson = dofile(dir .. '/purejson.lua') end
  local ok, j = pcall(cjson.decode, text)
  if ok and j ~= nil and j ~= cjson.null then return j end
  return text
end

local ok, err = pcall(function()
  if opts['create-site'] then
    local chunk = assert(loadfile(opts['create-site']))
    setfenv(chunk, setmetatable({ dt = lm.dt }, { __index = _G }))
    lm.site_create(opts.site, chunk())
    os.exit(0)
  end
  if opts.get then
    local site = lm.open_site(opts.site)
    local alias = tonumber(opts.get) or opts.get
    local raw, def = site:resolve(alias)
    if not def then
      io.write('none\n')
      os.exit(0)
    end
    local v = site:object(raw, def, true).value
    local t = type(v)
    if t == 'table' then
      io.write('table ', lm.serialize(v), '\n')
    elseif t == 'nil' then
      io.write('nil\n')
    elseif t == 'number' then
      io.write('number ', string.format('%.17g', v), '\n')
    else
      io.write(t, ' ', tostring(v), '\n')
    end
    os.exit(0)
  end
  if not opts.script then usage('--script FILE is required') end
  if opts.value and not opts.event then usage('--value needs --event') end
  local event
  if opts.event then
    if opts.value == nil then usage('--event needs --value') end
    event = { dst = tonumber(opts.event) or opts.event, value = parse_value(opts.value), src = opts.src,
              sender = opts.sender, tag = opts.tag }
  end
  -- LM scripts have no command line.
  arg = nil
  local ran = lm.run_script {
    site = opts.site, script = opts.script, event = event, script_name = opts.name,
  }
  io.stdout:flush()
  os.exit(ran and 0 or 1)
end)
if not ok then
  io.stderr:write('run.lua: ', tostring(err), '\n')
  os.exit(2)
end
