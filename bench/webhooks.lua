-- wrk script: POST pre-signed webhook bodies, one after another, and count 202s.
-- Usage: wrk -s bench/webhooks.lua URL -- FILE   (FILE: "signature<TAB>body" per line)
local reqs = {}
local idx = 0
local threads = {}
accepted = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local sig, body = line:match("^(%x+)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", wrk.path, {
      ["Content-Type"] = "application/json",
      ["X-Zoho-Webhook-Signature"] = sig,
    }, body)
  end
end

function request()
  idx = idx + 1
  if idx > #reqs then idx = 1 end
  return reqs[idx]
end

function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("accepted") end
  io.write(string.format(
    'BENCH {"requests": %d, "accepted": %d, "seconds": %.3f, "p50_ms": %.2f, "p99_ms": %.2f, "errors": %d}\n',
    summary.requests, total, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status))
end
