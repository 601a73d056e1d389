# Bad command lines get a clear error and exit status 1; --help/--version work.
. tests/integration/lib.bash

bad() {
	local re=$1; shift
	run_guest 10 "$@"
	expect_status 1 "vmm $*"
	expect_err "$re"
}

run_guest 5 --help
expect_status 0 "--help"
expect_out "usage: vmm"
run_guest 5 --version
expect_status 0 "--version"
expect_out "^vmm [0-9]"

bad "no guest image" 
bad "bad --mem '12Q'" --mem 12Q x.elf
bad "bad --mem '1M'" --mem 1M x.elf
bad "bad --mem '0'" --mem 0 x.elf
bad "bad --cpus '0'" --cpus 0 x.elf
bad "bad --cpus '65'" --cpus 65 x.elf
bad "bad --cpus 'two'" --cpus two x.elf
bad "bad --serial 'tty'" --serial tty x.elf
bad "bad --monitor 'tcp:1'" --monitor tcp:1 x.elf
bad "needs --serial" --monitor stdio x.elf
bad "unknown option" --frobnicate x.elf
bad "unexpected argument 'k=v'" x.elf k=v
bad "format=vmdk: expected raw or qcow2" --drive file=d.img,format=vmdk x.elf
bad "unknown key \"if\"" --drive file=d.img,if=ide x.elf
bad "cache=unsafe: expected none or writeback" --drive file=d.img,cache=unsafe x.elf
bad "base-digest=soon: expected auto, ahead or lazy" --drive file=d.img,format=qcow2,base-digest=soon x.elf
bad "file=PATH is required" --drive readonly=on x.elf

require_kvm
bad "cannot open /nonexistent.elf" /nonexistent.elf
printf 'hello' >"$TMP/short.elf"
bad "not an ELF file" "$TMP/short.elf"
bad "not a regular file" /dev/null
bad "drive $TMP/missing.img: No such file" --drive "file=$TMP/missing.img" x.elf
printf 'odd' >"$TMP/odd.img"
bad "not a non-zero multiple of 512" --drive "file=$TMP/odd.img" x.elf
# cache=none on qcow2: the tables buffered, the data O_DIRECT, never in
# one page.
if command -v qemu-img >/dev/null; then
	qemu-img create -q -f qcow2 -o cluster_size=512 "$TMP/small.qcow2" 1M
	bad "cache=none needs qcow2 clusters of at least [0-9]* bytes" \
		--drive "file=$TMP/small.qcow2,format=qcow2,cache=none" x.elf
fi
echo "cli: all bad command lines refused clearly"
