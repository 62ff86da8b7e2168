# bash completion for chat and the chat-* programs. Flags come from one
# table, user names from the cache file CHAT_HOME/users; TAB never touches
# the network.

# The flags: one line per flag. Fields: the programs that take it (comma
# separated, * for all), what its argument is (- for none), its spellings.
# Argument kinds: user (a name from the cache), file, sync, way; anything else
# (url, port, addr, n, seconds, ...) is typed by hand.
_chat_flag_table='
*                  -        -h --help
*                  -        --version
chat-dird          addr     -l --listen
chat-dird          file     -d --db
chat-dird          sync     --sync
chat-dird          bytes    --max-body
chat-dird          bytes    --max-content
chat-dird          n        --max-conns
chat-dird          seconds  --idle-timeout
chat-dird          seconds  --presence
chat-dird          n        --threads
chat-dird          n        --pool
chat-dird          -        -q --quiet
chat-dird          -        --require-keys
chat-dird          seconds  --auth-window
chat-dird          n        --replay-cache
chat-dird          user     --release
chat-dird          addr     --stun
chat-dird          -        --no-stun
chat-dird          addr     --relay
chat-dird          -        --no-relay
chat-dird          seconds  --relay-ttl
chat-dird          n        --relay-rate
chat-dird          n        --relay-max-conns
chat-dird          n        --relay-max-total
chat-dird          bytes    --relay-max-bytes
chat-dird          seconds  --relay-max-seconds
chat-dird          n        --max-streams
chat-dird          n        --max-user-streams
chat-dird          seconds  --heartbeat
chat-stun          -        --tcp
chat-stun          port     -p --port
chat-stun          seconds  -t --timeout
chat,chat-register,chat-peers,chat-friends,chat-history,chat-listen,chat-send,chat-key  url  -s --server
chat,chat-register,chat-friends,chat-history,chat-listen,chat-send,chat-key  user  -u --user
chat-key           ms       --time
chat-register,chat-listen  port     -p --port
chat-register,chat-listen  addr     -a --address
chat-register      seconds  --every
chat-register      -        --logout
chat-register      addr     --stun
chat-register      -        --no-stun
chat-peers         -        --online
chat-history       id       --after
chat-history       n        -n --last
chat-history       -        -f --follow
chat-history       -        --calls
chat-listen        -        --no-register
chat-listen        -        --no-catch-up
chat-listen        -        --plaintext
chat-send          -        --json
chat-send          -        --no-store
chat-send          -        --no-relay
chat-send          -        --plaintext
chat-send          hostport --direct
chat-send          way      --path
chat-send          seconds  -t --timeout
'

# The words after the flags, in order: "user" is a name from the cache,
# "sub" a subcommand of chat, "keysub" one of chat-key, "method" an HTTP
# method, "file" a file name, "word" anything typed by hand, anything
# else that literal word; a trailing "..." repeats the last one.
# "chat:SUB" is what follows chat SUB, "chat-key:SUB" chat-key SUB.
_chat_arg_table='
chat-peers         user...
chat-friends       add user...
chat-history       user
chat-send          user
chat               sub
chat:help          sub
chat:login         user
chat:connect       user
chat:send          user
chat:history       user
chat:show          chat user
chat:end           chat user
chat:peers         user...
chat:friends       add user...
chat-key           keysub
chat-key:pin       user word
chat-key:replace   user word
chat-key:forget    user
chat-key:sign      method word file
'

_chat_subcommands='register login connect show end status logout exit help
send history peers friends listen'

_chat_key_subcommands='show pins pin replace forget rotate sign'

# _chat_flags PROG: prints "KIND FLAG..." for each flag PROG takes.
_chat_flags() {
	local progs kind flags
	while read -r progs kind flags; do
		[[ -n $progs ]] || continue
		if [[ $progs == '*' || ,$progs, == *,"$1",* ]]; then
			printf '%s %s\n' "$kind" "$flags"
		fi
	done <<<"$_chat_flag_table"
}

# _chat_kind PROG FLAG: prints the argument kind of FLAG (- for none);
# fails when PROG has no such flag.
_chat_kind() {
	local kind flags f
	while read -r kind flags; do
		for f in $flags; do
			if [[ $f == "$2" ]]; then
				printf '%s\n' "$kind"
				return 0
			fi
		done
	done < <(_chat_flags "$1")
	return 1
}

# _chat_users PREFIX: the cached user names that start with PREFIX. Only
# well-formed names are offered, and the file is never expanded as code.
_chat_users() {
	local f=${CHAT_HOME:-${XDG_STATE_HOME:-$HOME/.local/state}/chat}/users
	local name
	[[ -r $f ]] || return 0
	while IFS= read -r name || [[ -n $name ]]; do
		[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$ ]] || continue
		[[ $name == "$1"* ]] && printf '%s\n' "$name"
	done <"$f"
}

# _chat_complete_kind KIND PREFIX: fills COMPREPLY with the values of an
# argument of that kind; kinds typed by hand get nothing.
_chat_complete_kind() {
	case $1 in
	user)
		mapfile -t COMPREPLY < <(_chat_users "$2")
		;;
	file)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$2")
		;;
	sync)
		mapfile -t COMPREPLY < <(compgen -W 'normal full' -- "$2")
		;;
	way)
		mapfile -t COMPREPLY < <(compgen -W 'direct punched relayed' \
			-- "$2")
		;;
	sub)
		mapfile -t COMPREPLY < <(compgen -W "$_chat_subcommands" -- "$2")
		;;
	keysub)
		mapfile -t COMPREPLY < <(compgen -W "$_chat_key_subcommands" \
			-- "$2")
		;;
	method)
		mapfile -t COMPREPLY < <(compgen -W 'GET HEAD POST' -- "$2")
		;;
	esac
	return 0
}

# _chat: the completion function of every program.
_chat() {
	local prog=${COMP_WORDS[0]##*/}
	local -a w=() pos=()
	local i tok join=0 cur prev kind key spec rest n
	COMPREPLY=()

	# Join "--flag" "=" "value", which COMP_WORDBREAKS splits, back into
	# one word.
	for ((i = 0; i <= COMP_CWORD; i++)); do
		tok=${COMP_WORDS[i]}
		if ((join)); then
			w[-1]+=$tok
			join=0
		elif [[ $tok == = && ${#w[@]} -gt 1 && ${w[-1]} == --* &&
			${w[-1]} != *=* ]]; then
			w[-1]+='='
			join=1
		else
			w+=("$tok")
		fi
	done
	cur=${w[-1]}
	prev=
	((${#w[@]} > 2)) && prev=${w[-2]}

	# --flag=value
	if [[ $cur == --*=* ]]; then
		kind=$(_chat_kind "$prog" "${cur%%=*}") || return 0
		_chat_complete_kind "$kind" "${cur#*=}"
		if [[ $COMP_WORDBREAKS != *=* ]]; then
			COMPREPLY=("${COMPREPLY[@]/#/${cur%%=*}=}")
		fi
		return 0
	fi

	# the argument of the flag before
	if [[ $prev == -* && $prev != *=* ]] &&
		kind=$(_chat_kind "$prog" "$prev") && [[ $kind != - ]]; then
		_chat_complete_kind "$kind" "$cur"
		return 0
	fi

	# The words typed so far that are not flags or their arguments.
	for ((i = 1; i < ${#w[@]} - 1; i++)); do
		tok=${w[i]}
		if [[ $tok == -- ]]; then
			pos+=("${w[@]:i+1:${#w[@]}-i-2}")
			break
		elif [[ $tok == -?* ]]; then
			if [[ $tok != *=* ]] && kind=$(_chat_kind "$prog" "$tok") &&
				[[ $kind != - ]]; then
				((i++))
			fi
		else
			pos+=("$tok")
		fi
	done

	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W \
			"$(_chat_flags "$prog" | cut -d ' ' -f 2-)" -- "$cur")
		return 0
	fi

	# Which argument comes next, by the argument table.
	key=$prog
	if [[ $prog == chat || $prog == chat-key ]] && ((${#pos[@]} > 0)); then
		key=$prog:${pos[0]}
		pos=("${pos[@]:1}")
	fi
	n=${#pos[@]}
	spec=
	while read -r tok rest; do
		if [[ $tok == "$key" ]]; then
			spec=$rest
			break
		fi
	done <<<"$_chat_arg_table"
	if [[ -z $spec ]]; then
		# nothing positional: offer the flags
		[[ -n $cur ]] || mapfile -t COMPREPLY < <(compgen -W \
			"$(_chat_flags "$prog" | cut -d ' ' -f 2-)" -- "$cur")
		return 0
	fi
	read -r -a spec <<<"$spec"
	for ((i = 0; i < n && i < ${#spec[@]}; i++)); do
		# a literal word that was not typed: this is another form
		case ${spec[i]} in
		user | user... | sub | sub... | keysub | method | word | file) ;;
		*) [[ ${pos[i]} == "${spec[i]}" ]] || return 0 ;;
		esac
	done
	if ((n < ${#spec[@]})); then
		kind=${spec[n]}
	elif [[ ${spec[-1]} == *... ]]; then
		kind=${spec[-1]}
	else
		return 0
	fi
	kind=${kind%...}
	case $kind in
	user | sub | keysub | method | file) _chat_complete_kind "$kind" "$cur" ;;
	word) ;;
	*) [[ $kind == "$cur"* ]] && COMPREPLY=("$kind") ;;
	esac
	return 0
}

complete -F _chat chat chat-dird chat-register chat-peers chat-friends \
	chat-history chat-listen chat-send chat-key chat-stun
