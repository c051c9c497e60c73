;; wallclock-sum: a job written by hand in WebAssembly text, against
;; sdk/ABI.md alone (no SDK). It shows that the ABI is the whole contract.
;;
;; Result, per (epoch, dc), compact JSON:
;;
;;     {"rows":N,"count":C,"sum":S}
;;
;;   N  the epoch's rows (events)
;;   C  how many events have an INT `tuning.wallclock`
;;   S  the sum of those values (signed, wrapping at 64 bits)
;;
;; Merge adds the three numbers; the empty input counts as zeros, so merging
;; with "" returns the other input byte for byte (the formatting is
;; canonical: no spaces, no leading zeros, "-" only for negative sums).
;;
;; Built by the conformance test (daemon/tests/all/conformance.rs) with the
;; `wat` crate; any assembler builds it too, e.g.
;; `wasm-tools parse wallclock-sum.wat -o wallclock-sum.wasm`.
;;
;; Memory (2 pages, 128 KiB, never grown):
;;   1024 ..  1248   constant strings (data segments below)
;;   2048 ..  2072   three i64: the numbers parsed from one merge input
;;   2080 ..  2112   scratch for formatting one number (20 digits at most)
;;   4096 .. 69632   the block buffer: 8192 i64 values (8-byte aligned;
;;                   4 KiB aligned even)
;;  69632 .. 70144   the result being written
;;  70144 .. 74240   merge input 0 (at most 4096 bytes)
;;  74240 .. 78336   merge input 1
(module
  ;; ---- imports: only functions of module "epochd" (ABI v1) -------------
  (import "epochd" "rows" (func $rows (result i32)))
  (import "epochd" "column" (func $column (param i32 i32 i32) (result i32)))
  (import "epochd" "column_i64"
    (func $column_i64 (param i32 i32 i32 i32) (result i32)))
  (import "epochd" "emit" (func $emit (param i32 i32) (result i32)))
  (import "epochd" "fail" (func $fail (param i32 i32)))
  (import "epochd" "merge_input"
    (func $merge_input (param i32 i32 i32) (result i32)))

  (memory (export "memory") 2)

  ;; ---- constants ----------------------------------------------------------
  (data (i32.const 1024) "tuning.wallclock")            ;; 16 bytes
  (data (i32.const 1040) "{\"rows\":")                   ;;  8
  (data (i32.const 1048) ",\"count\":")                  ;;  9
  (data (i32.const 1057) ",\"sum\":")                    ;;  7
  (data (i32.const 1064) "}")                            ;;  1
  (data (i32.const 1072)
    "wallclock-sum: a merge input is not a result of this job (or longer than 4096 bytes)") ;; 84
  (data (i32.const 1168) "wallclock-sum: emit refused the result") ;; 38
  (data (i32.const 1216) "wallclock-sum: column_i64 failed")       ;; 32

  (global $BUF i32 (i32.const 4096))     ;; block buffer
  (global $BLOCK i32 (i32.const 8192))   ;; values per block
  (global $OUT i32 (i32.const 69632))    ;; result buffer
  (global $IN0 i32 (i32.const 70144))    ;; merge input 0
  (global $IN1 i32 (i32.const 74240))    ;; merge input 1
  (global $IN_CAP i32 (i32.const 4096))
  (global $NUMS i32 (i32.const 2048))    ;; parsed numbers (3 x i64)
  (global $SCRATCH_END i32 (i32.const 2112))

  ;; Where the next byte of the result goes.
  (global $out (mut i32) (i32.const 0))

  (func (export "epochd_abi_version") (result i32) (i32.const 1))

  ;; ---- writing the result -------------------------------------------------

  ;; Appends len bytes at ptr to the result.
  (func $put (param $ptr i32) (param $len i32)
    (memory.copy (global.get $out) (local.get $ptr) (local.get $len))
    (global.set $out (i32.add (global.get $out) (local.get $len))))

  ;; Appends v, unsigned, in decimal: digits are produced from the last one
  ;; backwards into the scratch area, then copied.
  (func $put_u64 (param $v i64)
    (local $p i32)
    (local.set $p (global.get $SCRATCH_END))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i64.store8 (local.get $p)
        (i64.add (i64.const 48) (i64.rem_u (local.get $v) (i64.const 10))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (call $put (local.get $p)
      (i32.sub (global.get $SCRATCH_END) (local.get $p))))

  ;; Appends v, signed: "-" then the magnitude (0 - v as unsigned is right
  ;; for every negative i64, the smallest included).
  (func $put_i64 (param $v i64)
    (if (i64.lt_s (local.get $v) (i64.const 0))
      (then
        (i32.store8 (global.get $out) (i32.const 45)) ;; '-'
        (global.set $out (i32.add (global.get $out) (i32.const 1)))
        (call $put_u64 (i64.sub (i64.const 0) (local.get $v))))
      (else (call $put_u64 (local.get $v)))))

  ;; Writes {"rows":N,"count":C,"sum":S} and emits it; 0 on success, 1
  ;; (after fail) if emit refused it.
  (func $emit_result (param $rows i64) (param $count i64) (param $sum i64)
    (result i32)
    (global.set $out (global.get $OUT))
    (call $put (i32.const 1040) (i32.const 8))
    (call $put_u64 (local.get $rows))
    (call $put (i32.const 1048) (i32.const 9))
    (call $put_u64 (local.get $count))
    (call $put (i32.const 1057) (i32.const 7))
    (call $put_i64 (local.get $sum))
    (call $put (i32.const 1064) (i32.const 1))
    (if (i32.lt_s
          (call $emit (global.get $OUT)
            (i32.sub (global.get $out) (global.get $OUT)))
          (i32.const 0))
      (then
        (call $fail (i32.const 1168) (i32.const 38))
        (return (i32.const 1))))
    (i32.const 0))

  ;; ---- the run --------------------------------------------------------------

  (func (export "epochd_run") (result i32)
    (local $h i32)      ;; column handle
    (local $start i32)  ;; index of the first value of the next block
    (local $n i32)      ;; values copied into this block
    (local $p i32)      ;; cursor in the block
    (local $end i32)
    (local $sum i64)
    ;; The INT column of tuning.wallclock (type 0); NOT_FOUND (< 0) when
    ;; no event of this epoch has an integer there: count and sum are 0.
    (local.set $h (call $column (i32.const 1024) (i32.const 16) (i32.const 0)))
    (if (i32.ge_s (local.get $h) (i32.const 0))
      (then
        ;; Copy the values in blocks of 8192 into the aligned buffer and
        ;; add them up; a block shorter than asked means the end (0 at the
        ;; end exactly).
        (block $done
          (loop $block
            (local.set $n
              (call $column_i64 (local.get $h) (local.get $start)
                (global.get $BLOCK) (global.get $BUF)))
            (if (i32.lt_s (local.get $n) (i32.const 0))
              (then
                (call $fail (i32.const 1216) (i32.const 32))
                (return (i32.const 1))))
            (br_if $done (i32.eqz (local.get $n)))
            (local.set $p (global.get $BUF))
            (local.set $end
              (i32.add (global.get $BUF) (i32.shl (local.get $n) (i32.const 3))))
            (loop $value
              (local.set $sum (i64.add (local.get $sum) (i64.load (local.get $p))))
              (local.set $p (i32.add (local.get $p) (i32.const 8)))
              (br_if $value (i32.lt_u (local.get $p) (local.get $end))))
            (local.set $start (i32.add (local.get $start) (local.get $n)))
            (br_if $block (i32.eq (local.get $n) (global.get $BLOCK)))))))
    (call $emit_result
      (i64.extend_i32_u (call $rows))
      (i64.extend_i32_u (local.get $start))
      (local.get $sum)))

  ;; ---- the merge ------------------------------------------------------------

  ;; Parses one signed decimal integer at p (before end) into the i64 at
  ;; dst; returns the position after it, or -1 if there is no digit.
  (func $parse_int (param $p i32) (param $end i32) (param $dst i32) (result i32)
    (local $neg i32)
    (local $v i64)
    (local $digits i32)
    (local $c i32)
    (if (i32.lt_u (local.get $p) (local.get $end))
      (then
        (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 45)) ;; '-'
          (then
            (local.set $neg (i32.const 1))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))))))
    (block $stop
      (loop $digit
        (br_if $stop (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (br_if $stop (i32.gt_u (local.get $c) (i32.const 9)))
        (local.set $v
          (i64.add (i64.mul (local.get $v) (i64.const 10))
            (i64.extend_i32_u (local.get $c))))
        (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $digit)))
    (if (i32.eqz (local.get $digits)) (then (return (i32.const -1))))
    (if (local.get $neg)
      (then (local.set $v (i64.sub (i64.const 0) (local.get $v)))))
    (i64.store (local.get $dst) (local.get $v))
    (local.get $p))

  ;; Parses the input at ptr (len bytes) into the three i64 at $NUMS: rows,
  ;; count, sum, each the integer after the next ':'. The empty input is
  ;; three zeros. Returns 1 when parsed, 0 when the input is not a result.
  (func $parse (param $ptr i32) (param $len i32) (result i32)
    (local $p i32)
    (local $end i32)
    (local $k i32)
    (i64.store (global.get $NUMS) (i64.const 0))
    (i64.store offset=8 (global.get $NUMS) (i64.const 0))
    (i64.store offset=16 (global.get $NUMS) (i64.const 0))
    (if (i32.eqz (local.get $len)) (then (return (i32.const 1))))
    (if (i32.ne (i32.load8_u (local.get $ptr)) (i32.const 123)) ;; '{'
      (then (return (i32.const 0))))
    (local.set $p (local.get $ptr))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (loop $number
      ;; Skip to just after the next ':'.
      (block $found
        (loop $scan
          (if (i32.ge_u (local.get $p) (local.get $end))
            (then (return (i32.const 0))))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br_if $found
            (i32.eq (i32.load8_u (i32.sub (local.get $p) (i32.const 1)))
              (i32.const 58))) ;; ':'
          (br $scan)))
      (local.set $p
        (call $parse_int (local.get $p) (local.get $end)
          (i32.add (global.get $NUMS) (i32.shl (local.get $k) (i32.const 3)))))
      (if (i32.lt_s (local.get $p) (i32.const 0)) (then (return (i32.const 0))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $number (i32.lt_u (local.get $k) (i32.const 3))))
    (i32.const 1))

  (func (export "epochd_merge") (result i32)
    (local $len0 i32)
    (local $len1 i32)
    (local $rows i64)
    (local $count i64)
    (local $sum i64)
    (local.set $len0 (call $merge_input (i32.const 0) (global.get $IN0) (global.get $IN_CAP)))
    (local.set $len1 (call $merge_input (i32.const 1) (global.get $IN1) (global.get $IN_CAP)))
    ;; An input longer than the buffer (or an error code) is not ours.
    (if (i32.or
          (i32.gt_u (local.get $len0) (global.get $IN_CAP))
          (i32.gt_u (local.get $len1) (global.get $IN_CAP)))
      (then
        (call $fail (i32.const 1072) (i32.const 84))
        (return (i32.const 1))))
    ;; Both empty: the result is empty too (the identity stays the identity).
    (if (i32.eqz (i32.or (local.get $len0) (local.get $len1)))
      (then (return (call $emit (global.get $OUT) (i32.const 0)))))
    (if (i32.eqz (call $parse (global.get $IN0) (local.get $len0)))
      (then
        (call $fail (i32.const 1072) (i32.const 84))
        (return (i32.const 1))))
    (local.set $rows (i64.load (global.get $NUMS)))
    (local.set $count (i64.load offset=8 (global.get $NUMS)))
    (local.set $sum (i64.load offset=16 (global.get $NUMS)))
    (if (i32.eqz (call $parse (global.get $IN1) (local.get $len1)))
      (then
        (call $fail (i32.const 1072) (i32.const 84))
        (return (i32.const 1))))
    (call $emit_result
      (i64.add (local.get $rows) (i64.load (global.get $NUMS)))
      (i64.add (local.get $count) (i64.load offset=8 (global.get $NUMS)))
      (i64.add (local.get $sum) (i64.load offset=16 (global.get $NUMS))))))
