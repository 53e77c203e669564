-- os.date / os.time / os.difftime / os.clock with fixed inputs.
-- The expected output is generated with TZ=UTC (lunette's hosts default to UTC).

local function show(t)
  print(t.year, t.month, t.day, t.hour, t.min, t.sec, t.yday, t.wday, t.isdst)
end

-- os.date with explicit times, UTC and "local" (= UTC here)
local times = {0, 86400 * 365, 951782400, 1000000000, 1234567890, 1700000000,
  -1, -86400 * 365 * 30 - 12345, 253402300799, 4102444800}
for _, t in ipairs(times) do
  print(t, os.date("!%Y-%m-%d %H:%M:%S", t), os.date("%Y-%m-%d %H:%M:%S", t))
end

local all = "%a|%A|%b|%B|%c|%C|%d|%D|%e|%F|%g|%G|%h|%H|%I|%j|%m|%M|%p|%r|%R|%S|%T|%u|%U|%V|%w|%W|%x|%X|%y|%Y|%z|%%"
for _, t in ipairs({0, 1000000000, 1234567890, 1700000000, 1609459200, 1577664000}) do
  print(os.date("!" .. all, t))
  print(os.date(all, t))
end
print(os.date("!%n|%t|", 0) == "\n|\t|")
print(os.date("%Z", 0), os.date("!%Z", 0))
print(os.date("!%Ec|%EC|%Ex|%EX|%Ey|%EY", 1e9))
print(os.date("!%Od|%Oe|%OH|%OI|%Om|%OM|%OS|%Ou|%OU|%OV|%Ow|%OW|%Oy", 1e9))
print(os.date("!plain text, no conversions", 5))
print(os.date("!", 5) == "")

-- ISO weeks around year boundaries
for _, d in ipairs({{2021, 1, 1}, {2020, 12, 31}, {2019, 12, 30}, {2024, 12, 30},
                    {2027, 1, 3}, {2026, 12, 31}, {2015, 1, 1}, {2016, 1, 3}, {2000, 2, 29}}) do
  local t = os.time({year = d[1], month = d[2], day = d[3], hour = 0})
  print(os.date("!%F %a %G %g %V %U %W %u %w %j", t))
end

-- far years
for _, y in ipairs({5, 999, 1000, -2, -1000, 12345, 1582, 1600, 1900}) do
  local t = os.time({year = y, month = 3, day = 1, hour = 0})
  print(y, t, os.date("!%Y|%C|%y|%G|%g|%F|%c|%D", t))
end

-- *t and !*t
show(os.date("!*t", 0))
show(os.date("*t", 1234567890))
show(os.date("!*t", -1))
show(os.date("!*t", 951825600))
local t = os.date("!*t", 1700000000)
print(os.time(t), os.time(os.date("*t", 1700000000)))

-- os.time normalizes its fields and updates the table
local n = {year = 2000, month = 14, day = 35, hour = 25, min = -5, sec = 70}
print(os.time(n))
show(n)
n = {year = 2001, month = 0, day = 0}
print(os.time(n))
show(n)
n = {year = 1970, month = 1, day = 1, hour = 0, min = 0, sec = -86400 * 400}
print(os.time(n))
show(n)
print(os.time({year = 2000, month = 1, day = 1}))
print(os.time({year = "2000", month = "1", day = 1.0, hour = 0}))
print(os.time({year = 2020, month = 2, day = 30, hour = 0, isdst = true}))

-- errors
print(pcall(os.time, {year = 2000}))
print(pcall(os.time, {month = 1, day = 1}))
print(pcall(os.time, {year = 2000, month = "x", day = 1}))
print(pcall(os.time, {year = 2000, month = 1.5, day = 1}))
print(pcall(os.time, {year = 2000, month = 1, day = 1, hour = {}}))
print(pcall(os.time, {year = 2^40, month = 1, day = 1}))
print(pcall(os.time, {year = 2000, month = 2^31, day = 1}))
print(pcall(os.time, {year = 1969, month = 12, day = 31, hour = 23, min = 59, sec = 59}))
print(pcall(os.time, 5))
print(pcall(os.date, "%Ez abc"))
print(pcall(os.date, "%"))
print(pcall(os.date, "abc %"))
print(pcall(os.date, "%E"))
print(pcall(os.date, "%Oz"))
print(pcall(os.date, "%i"))
print(pcall(os.date, "*t", 1.5))
print(pcall(os.date, "!%Y", 2^60))
print(pcall(os.date, "!%Y", "x"))
print(pcall(os.date, {}))

-- difftime and clock
print(os.difftime(5, 2), os.difftime(0, 10), math.type(os.difftime(1, 1)))
print(os.difftime(1.0, "2"))
print(pcall(os.difftime, 5))
print(pcall(os.difftime, 1.5, 1))
print(math.type(os.clock()), math.type(os.time()))
n = {year = 2020, month = 3, day = 1, hour = 0, isdst = true}
print(os.time(n))
show(n)
n = {year = 2020, month = 3, day = 1, hour = 0, isdst = false}
print(os.time(n))
show(n)
