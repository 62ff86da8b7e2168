-- wrk script: POST /message/create/ in the batch form, {"messages":[...]}
-- with SIZE messages a request (default 100). Every message carries its own
-- uid (run tag, thread number, request counter, index), so each request
-- stores SIZE new messages atomically; messages/s is requests/s times SIZE.
-- usage: wrk ... -s bench/batch.lua URL -- SENDER RECEIVER RUNTAG [SIZE]

local threads = 0

function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end

function init(args)
	local sender = args[1] or "user5"
	local receiver = args[2] or "user6"
	local size = tonumber(args[4] or "100")
	local items = {}
	-- "@" stands for the request's own uid prefix, filled in per request.
	for i = 1, size do
		items[i] = string.format(
			'{"sender":"%s","receiver":"%s","content":"bench batch message %d","uid":"@-%d"}',
			sender, receiver, i, i)
	end
	template = '{"messages":[' .. table.concat(items, ",") .. ']}'
	prefix = string.format("%s-t%d-", args[3] or "run", tid or 0)
	count = 0
	wrk.headers["Content-Type"] = "application/json"
end

function request()
	count = count + 1
	local body = template:gsub("@", prefix .. count)
	return wrk.format("POST", "/message/create/", nil, body)
end
