-- wrk script: signed GitHub webhook deliveries, each with its own X-GitHub-Delivery id.
--
-- Environment (set by bench/webhooks.sh):
--   BENCH_PAYLOADS  Lua file written by bench/payloads.py (event, signature, body per entry)
--   BENCH_RUN       short hex nonce, so delivery ids never repeat across runs sharing a database
--
-- The signature covers only the body, so every request of one body reuses its precomputed header; the
-- request text is prebuilt around the delivery id and only the id is spliced in per request. Bodies rotate
-- round-robin, each thread starting at a different offset. done() prints one machine-readable line.

local payloads_path = os.getenv("BENCH_PAYLOADS") or error("BENCH_PAYLOADS is not set")
local run = os.getenv("BENCH_RUN") or "00000000"

local thread_count = 0
function setup(thread)
  thread:set("thread_id", thread_count)
  thread_count = thread_count + 1
end

local heads, tails, sent, next_body

function init(_)
  local payloads = dofile(payloads_path)
  local host = wrk.host .. ":" .. tostring(wrk.port)
  heads, tails = {}, {}
  for i, p in ipairs(payloads) do
    heads[i] = "POST " .. wrk.path .. " HTTP/1.1\r\n"
      .. "Host: " .. host .. "\r\n"
      .. "User-Agent: GitHub-Hookshot/bench\r\n"
      .. "Content-Type: application/json\r\n"
      .. "X-GitHub-Event: " .. p.event .. "\r\n"
      .. "X-GitHub-Hook-ID: 1\r\n"
      .. "X-GitHub-Hook-Installation-Target-Type: integration\r\n"
      .. "X-Hub-Signature-256: " .. p.signature .. "\r\n"
      .. "Content-Length: " .. tostring(#p.body) .. "\r\n"
      .. "X-GitHub-Delivery: "
    tails[i] = "\r\n\r\n" .. p.body
  end
  sent = 0
  next_body = (thread_id * 7919) % #heads + 1
end

function request()
  sent = sent + 1
  -- UUID-shaped like GitHub's ids: run nonce, thread, per-thread counter.
  local id = string.format("%s-%04x-4000-8000-%012x", run, thread_id, sent)
  local i = next_body
  next_body = i % #heads + 1
  return heads[i] .. id .. tails[i]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d status_errors=%d "
      .. "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
