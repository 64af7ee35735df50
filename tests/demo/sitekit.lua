-- The site builder lives in tests/lm/sitekit.lua. This forwarder keeps `require('sitekit')` working
-- for tests/bench/run.sh, whose LUA_PATH still names tests/demo; remove it once that path names
-- tests/lm.
local function here()
  local src = debug and debug.getinfo and debug.getinfo(1, 'S').source or ''
  return (src:match('^@(.*)/[^/]*$')) or '.'
end
return dofile(here() .. '/../lm/sitekit.lua')
