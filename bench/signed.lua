-- wrk script: requests read from a file that bench/sigreqs wrote, one a
-- line (signature or "-", a tab, the body of a create or the target of a
-- get); each thread takes every nth line, so no two send the same one.
-- usage: wrk ... -s bench/signed.lua URL -- FILE create|get THREADS

local threads = 0

function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end

function init(args)
	local file, n = args[1], tonumber(args[3])
	create = args[2] == "create"
	reqs = {}
	local i = 0
	for line in io.lines(file) do
		if i % n == (tid - 1) then
			local sig, rest = line:match("^([^\t]*)\t(.*)$")
			local h = {}
			if create then h["Content-Type"] = "application/json" end
			if sig ~= "-" then h["Chat-Signature"] = sig end
			if create then
				reqs[#reqs + 1] = wrk.format("POST", "/message/create/", h, rest)
			else
				reqs[#reqs + 1] = wrk.format("GET", rest, h, nil)
			end
		end
		i = i + 1
	end
	next_req = 0
end

function request()
	next_req = next_req % #reqs + 1
	return reqs[next_req]
end
