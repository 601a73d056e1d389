# The migration tests again with every vmm tracking through the dirty ring
# (migrate_guests.sh: verify, heartbeat, memtouch, idle, hello;
# migrate_pingpong.sh: six hops, every destination started with the ring
# too), through a wrapper vmm that adds --dirty-ring. Apart from
# migrate_dirty_ring.sh, whose rate checks run alone, so that these run
# beside other tests.
. tests/integration/lib.bash
require_kvm

# 1024 entries clear KVM's reserve on every host (with Intel's PML too).
RING=1024

ring_build=$TMP/ring-build
mkdir -p "$ring_build"
ln -s "$(realpath "$GUESTS")" "$ring_build/guests"
printf '#!/bin/sh\nexec %q --dirty-ring %s "$@"\n' "$(realpath "$VMM")" "$RING" >"$ring_build/vmm"
chmod +x "$ring_build/vmm"
for t in migrate_guests migrate_pingpong; do
	note "$t, every vmm with --dirty-ring $RING"
	DIRTY_RING=$RING BUILD=$ring_build bash "tests/integration/$t.sh" >"$TMP/$t.log" 2>&1 ||
		{ tail -n 30 "$TMP/$t.log"; fail "$t with the dirty ring"; }
	tail -n 1 "$TMP/$t.log"
done
echo "migrate_dirty_ring_rerun: migrate_guests and migrate_pingpong pass with the ring"
