/**
 * Piston's `nosocket`, as a classic-BPF seccomp filter handed to bubblewrap (`--seccomp FD`): with
 * networking disabled, `socket()` fails with EACCES (fixture `execute-network-disabled`), on the
 * x86-64, x32 and i386 ABIs. The empty network namespace already isolates the job; this second
 * layer also refuses AF_UNIX/netlink sockets, exactly as Piston does.
 */

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_RET_K = 0x06;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EACCES = 13;

type Insn = [code: number, jt: number, jf: number, k: number];

/** The filter program (struct sock_filter[]), or null on hosts whose ABI it does not cover. */
export function noSocketFilter(arch: string = process.arch): Buffer | null {
  if (arch !== 'x64') return null;
  const prog: Insn[] = [
    /* 0 */ [BPF_LD_W_ABS, 0, 0, 4], // seccomp_data.arch
    /* 1 */ [BPF_JEQ_K, 0, 3, AUDIT_ARCH_X86_64], // → 2, else → 5
    /* 2 */ [BPF_LD_W_ABS, 0, 0, 0], // seccomp_data.nr
    /* 3 */ [BPF_JEQ_K, 6, 0, 41], // socket → 10
    /* 4 */ [BPF_JEQ_K, 5, 4, 0x40000000 | 41], // x32 socket → 10, else → 9
    /* 5 */ [BPF_JEQ_K, 0, 3, AUDIT_ARCH_I386], // → 6, else → 9
    /* 6 */ [BPF_LD_W_ABS, 0, 0, 0],
    /* 7 */ [BPF_JEQ_K, 2, 0, 359], // i386 socket → 10
    /* 8 */ [BPF_JEQ_K, 1, 0, 102], // i386 socketcall → 10
    /* 9 */ [BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW],
    /* 10 */ [BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EACCES],
  ];
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    buf.writeUInt16LE(code, i * 8);
    buf.writeUInt8(jt, i * 8 + 2);
    buf.writeUInt8(jf, i * 8 + 3);
    buf.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return buf;
}
