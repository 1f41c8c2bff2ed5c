-- wrk script for a paced load (bench/proxy.js): each connection waits DELAY ms after each answer before
-- its next request, so C connections offer about C / (DELAY + latency) requests per ms; wrk measures
-- each request from send to answer, in µs.   wrk -t1 -cC -dDs --latency -s bench/lib/paced.lua URL -- DELAY
local pause = 10

function init(args)
  if args[1] ~= nil then pause = tonumber(args[1]) end
end

function delay()
  return pause
end
