-- expect: ok
-- fuel: 10000
-- Attack: require of a module name of 8 MiB, through every searcher of the sandbox. `require`'s message holds the name once
-- per searcher and once more in its header: it was built with `format!` and copied several
-- times in one step (a 10 MB name held a step for 180 ms and 200 MB of temporary buffers).
-- Now the searchers' messages are kept as parts and joined once, reserved against the
-- limit and built in pieces across steps. (The name and the long messages are scanned once
-- each for a zero byte, charged as they are scanned, and a lookup of the name in
-- `package.preload` compares it with the equal key there: 1-2 ms each for 8 MiB. The
-- name, made by the string builder, comes hashed.)
local name = string.rep("m", 8 * 1024 * 1024)
for _ = 1, 2 do
  local ok, e = pcall(require, name)
  assert(not ok and #e == 3 * #name + 80, #e)
  assert(e:sub(1, 10) == "module 'mm" and e:find("no field package.sources['mmm", 1, true))
end
-- a name with a zero byte: PUC's require sees it up to the zero
local ok, e = pcall(require, name .. "\0tail")
assert(not ok and #e == 3 * #name + 80)
-- a preload loader found under the name's C-string view gets the whole name
package.preload[name] = function(n) return #n end
assert(require(name .. "\0tail") == #name + 5)
print("ok")
