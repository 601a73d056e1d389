#!/usr/bin/env bash
# Checks that every #include points down (or level) a floor: lib/ (1), vmm/
# the KVM core (2), devices/ (3), migrate/ the engine (4), vmm/app/ the
# program (5). A header's floor is the folder of the .c file of the same
# name; a header named migrate_* or migration* is the engine's (4); the
# few other headers without a .c of their name are in HEADER_FLOORS below.
# Prints each include that points up and exits 1 if there is one.
set -u
cd "$(dirname "$0")/.." || exit 2

declare -A FLOOR_OF_DIR=([lib]=1 [vmm]=2 [devices]=3 [migrate]=4 [vmm/app]=5)
declare -A FLOOR_NAME=([1]=lib [2]="vmm (KVM core)" [3]=devices [4]=migrate [5]="vmm/app (program)")
# Headers whose module is not one .c of the same name.
declare -A HEADER_FLOORS=(
	[clock.h]=1
	[vm.h]=2
	[device.h]=2
	[devices.h]=3
	[blk_backend.h]=3
	[blk_qcow2_internal.h]=3
)

declare -A floor_of_header
for dir in "${!FLOOR_OF_DIR[@]}"; do
	for c in "$dir"/*.c; do
		[ -e "$c" ] || continue
		floor_of_header["$(basename "$c" .c).h"]=${FLOOR_OF_DIR[$dir]}
	done
done
for h in include/migrate_*.h include/migration*.h; do
	[ -e "$h" ] && floor_of_header[$(basename "$h")]=4
done
for h in "${!HEADER_FLOORS[@]}"; do
	floor_of_header[$h]=${HEADER_FLOORS[$h]}
done

bad=0
check_file() {
	local file=$1 floor=$2 inc f
	while read -r inc; do
		f=${floor_of_header[$inc]:-}
		if [ -z "$f" ]; then
			echo "$file: includes $inc, which belongs to no floor (add it to HEADER_FLOORS in $0)"
			bad=1
		elif [ "$f" -gt "$floor" ]; then
			echo "$file (${FLOOR_NAME[$floor]}) includes $inc from a floor above (${FLOOR_NAME[$f]})"
			bad=1
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
}

for dir in "${!FLOOR_OF_DIR[@]}"; do
	for c in "$dir"/*.c; do
		[ -e "$c" ] && check_file "$c" "${FLOOR_OF_DIR[$dir]}"
	done
done
for h in include/*.h; do
	f=${floor_of_header[$(basename "$h")]:-}
	if [ -z "$f" ]; then
		echo "$h belongs to no floor (no .c of its name; add it to HEADER_FLOORS in $0)"
		bad=1
		continue
	fi
	check_file "$h" "$f"
done
[ $bad -eq 0 ] && echo "floors: every include points down"
exit $bad
