#!/usr/bin/env bash
# make run: starts build/wsip serve in the foreground with the web phone of
# this build (http.root build/web; wsip logs the page's address). With no
# user in the database yet, says how to add one, or at a terminal (never in
# CI) offers to create alice and bob with generated passwords, shown once.
# Arguments go to wsip (make run ARGS='--set log.level=debug').
set -euo pipefail
cd "$(dirname "$0")/.."
wsip=build/wsip
mkdir -p var

# the first SIP domain of the configuration these arguments make
domain=$("$wsip" check-config -v "$@" 2>/dev/null | sed -n 's/^domains = \[ "\([^"]*\)".*/\1/p')
domain=${domain:-localhost}

if users=$("$wsip" user list "$@" 2>/dev/null) && [ -z "$users" ]; then
    answer=n
    if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ]; then
        read -r -p "No users yet. Create alice@$domain and bob@$domain with generated passwords? [Y/n] " answer || answer=n
        answer=${answer:-y}
    fi
    case "$answer" in
    [yY]*)
        for u in alice bob; do
            pw=$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')
            printf '%s\n' "$pw" | "$wsip" user add "$u@$domain" --password-stdin "$@" >/dev/null
            printf '  user %-20s password %s\n' "$u@$domain" "$pw"
        done
        echo "  (the passwords are shown only now: note them)"
        ;;
    *)
        echo "No users yet: add one with   $wsip user add alice@$domain   (asks for a password)"
        ;;
    esac
fi

exec "$wsip" serve --set http.root=build/web "$@"
