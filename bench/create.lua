-- wrk script: POST /message/create/ with one message a request.
-- Every request carries its own uid (run tag, thread number, counter), so
-- each one is a new message that the daemon must commit, never a replay.
-- usage: wrk ... -s bench/create.lua URL -- SENDER RECEIVER RUNTAG

local threads = 0

function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end

function init(args)
	sender = args[1] or "user3"
	receiver = args[2] or "user4"
	prefix = string.format("%s-t%d-", args[3] or "run", tid or 0)
	count = 0
	wrk.headers["Content-Type"] = "application/json"
end

function request()
	count = count + 1
	local body = string.format(
		'{"sender":"%s","receiver":"%s","content":"bench message %d from thread %d","uid":"%s%d"}',
		sender, receiver, count, tid or 0, prefix, count)
	return wrk.format("POST", "/message/create/", nil, body)
end
