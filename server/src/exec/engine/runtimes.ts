/**
 * The runtimes the engine offers: Debian's toolchains under /usr, probed at start for their real
 * versions and named the way Piston's packages name them (PISTON-API.md §4, §9). Each runtime says
 * how to compile (optional) and run a job, mirroring Piston's package `compile`/`run` scripts where
 * a client can see the difference (file names in compiler messages, `chmod` of a missing a.out).
 */
import { execFile } from 'node:child_process';
import type { PistonRuntime } from '../piston/protocol.js';

/** A command line run inside the sandbox, cwd = the job directory. */
export type Argv = readonly string[];

/** One language the engine can run. */
export interface Runtime extends PistonRuntime {
  /** compile stage: all utf8 file names in, argv out; absent for interpreted languages */
  compile?: (files: readonly string[]) => Argv;
  /** run stage: the main file (first utf8 file) and the request's args */
  run: (main: string, args: readonly string[]) => Argv;
  /** extra environment inside the sandbox */
  env?: Readonly<Record<string, string>>;
  /**
   * Whether RLIMIT_AS may carry the memory limit. True for runtimes that fail cleanly on it (Python
   * raises MemoryError, as in Piston); false for VMs that reserve large address ranges up front
   * (JVM, V8, Go), which only the memory cgroup can limit.
   */
  addressSpaceLimit: boolean;
  /** Piston's test program for this runtime: prints OK (PISTON-API.md §9) */
  test: { file: string; content: string };
}

/** How to find one runtime on the host. */
interface Probe {
  language: string;
  aliases: (version: string) => string[];
  runtime?: string;
  /** command printing the version, and how to pick the version out of its output */
  version: { cmd: string; args: string[]; match: RegExp };
  make: Omit<Runtime, keyof PistonRuntime>;
}

/** Piston's gcc compile script: add the extension, compile everything, chmod a.out (also on failure). */
function gccCompile(ext: string, compiler: string, libs = ''): (files: readonly string[]) => Argv {
  const script = `for f in "$@"; do mv -- "$f" "$f${ext}"; done; ${compiler} *${ext}${libs}; chmod +x a.out`;
  return (files) => ['/usr/bin/bash', '-c', script, 'compile', ...files];
}

const PROBES: readonly Probe[] = [
  {
    language: 'c', aliases: () => ['gcc'], runtime: 'gcc',
    version: { cmd: '/usr/bin/gcc', args: ['-dumpfullversion'], match: /^(\d+\.\d+\.\d+)/ },
    make: {
      compile: gccCompile('.c', '/usr/bin/gcc -std=c11', ' -lm'), run: (_m, a) => ['./a.out', ...a], addressSpaceLimit: true,
      test: { file: 'test.c', content: '#include <stdio.h>\n\nint main(void) {\n    printf("OK");\n    return 0;\n}' },
    },
  },
  {
    language: 'c++', aliases: () => ['cpp', 'g++'], runtime: 'gcc',
    version: { cmd: '/usr/bin/g++', args: ['-dumpfullversion'], match: /^(\d+\.\d+\.\d+)/ },
    make: {
      compile: gccCompile('.cpp', '/usr/bin/g++ -std=c++17'), run: (_m, a) => ['./a.out', ...a], addressSpaceLimit: true,
      test: { file: 'test.cpp', content: '#include <iostream>\n\nint main(void) {\n    printf("OK");\n    return 0;\n}' },
    },
  },
  {
    language: 'java', aliases: () => [],
    version: { cmd: '/usr/bin/java', args: ['-version'], match: /version "([\d.]+)"/ },
    make: {
      // Piston renames $1 to $1.java and uses the single-file source launcher; job.ts does the rename.
      run: (m, a) => ['/usr/bin/java', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto', m, ...a],
      addressSpaceLimit: false,
      env: { LANG: 'C.UTF-8' }, // Java 17 would otherwise print non-ASCII text as '?'
      test: { file: 'test.java', content: 'public class HelloWorld {\n    public static void main(String[] args) {\n        System.out.println("OK");\n    }\n}' },
    },
  },
  {
    language: 'javascript', aliases: () => ['node-javascript', 'node-js', 'javascript', 'js'], runtime: 'node',
    version: { cmd: '/usr/bin/node', args: ['--version'], match: /^v(\d+\.\d+\.\d+)/ },
    make: {
      run: (m, a) => ['/usr/bin/node', m, ...a], addressSpaceLimit: false,
      test: { file: 'test.js', content: "console.log('OK');" },
    },
  },
  {
    language: 'python', aliases: (v) => ['py', 'py3', 'python3', `python${v.split('.').slice(0, 2).join('.')}`],
    version: { cmd: '/usr/bin/python3', args: ['--version'], match: /Python (\d+\.\d+\.\d+)/ },
    make: {
      run: (m, a) => ['/usr/bin/python3', m, ...a], addressSpaceLimit: true,
      test: { file: 'test.py', content: 'working = True\n\nmatch working:\n    case True:\n        print("OK")\n    case False:\n        print()\n' },
    },
  },
  {
    language: 'bash', aliases: () => ['sh'],
    version: { cmd: '/usr/bin/bash', args: ['--version'], match: /version (\d+\.\d+\.\d+)/ },
    make: {
      run: (m, a) => ['/usr/bin/bash', m, ...a], addressSpaceLimit: true,
      test: { file: 'test.bash.sh', content: 'echo "OK"' },
    },
  },
  {
    language: 'ruby', aliases: () => ['ruby3', 'rb'],
    version: { cmd: '/usr/bin/ruby', args: ['--version'], match: /ruby (\d+\.\d+\.\d+)/ },
    make: {
      run: (m, a) => ['/usr/bin/ruby', m, ...a], addressSpaceLimit: true, env: { LANG: 'C.UTF-8' },
      test: { file: 'test.rb', content: 'puts("OK")' },
    },
  },
  {
    language: 'go', aliases: () => ['go', 'golang'],
    version: { cmd: '/usr/bin/go', args: ['version'], match: /go(\d+\.\d+(?:\.\d+)?)/ },
    make: {
      compile: (files) => ['/usr/bin/bash', '-c', 'for f in "$@"; do mv -- "$f" "$f.go"; done; /usr/bin/go build -o binary *.go', 'compile', ...files],
      run: (_m, a) => ['./binary', ...a], addressSpaceLimit: false,
      env: { GOCACHE: '/tmp/go-cache', GOPATH: '/tmp/go', GO111MODULE: 'off', GOROOT: '/usr/lib/go', CGO_ENABLED: '0' },
      test: { file: 'test.go', content: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("OK")\n}\n' },
    },
  },
  {
    language: 'rust', aliases: () => ['rs'],
    version: { cmd: '/usr/bin/rustc', args: ['--version'], match: /rustc (\d+\.\d+\.\d+)/ },
    make: {
      compile: (files) => ['/usr/bin/rustc', '--crate-name', 'main', '-C', 'strip=debuginfo', '-o', 'binary', files[0] as string],
      run: (_m, a) => ['./binary', ...a], addressSpaceLimit: false,
      test: { file: 'test.rs', content: 'fn main() {\n    println!("OK");\n}\n' },
    },
  },
  {
    language: 'typescript', aliases: () => ['ts', 'node-ts', 'tsc'],
    version: { cmd: '/usr/bin/tsc', args: ['--version'], match: /Version (\d+\.\d+\.\d+)/ },
    make: {
      compile: (files) => ['/usr/bin/bash', '-c', 'for f in "$@"; do mv -- "$f" "$f.ts"; done; /usr/bin/tsc --target es2020 --module commonjs --lib es2020,dom *.ts', 'compile', ...files],
      run: (m, a) => ['/usr/bin/node', `${m}.js`, ...a], addressSpaceLimit: false,
      test: { file: 'test.ts', content: "console.log('OK')" },
    },
  },
];

function versionOf(probe: Probe): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(probe.version.cmd, probe.version.args, { timeout: 15_000, env: { PATH: '/usr/bin:/bin', HOME: '/tmp' } }, (err, stdout, stderr) => {
      if (err) return resolve(null);
      resolve(probe.version.match.exec(`${stdout}${stderr}`)?.[1] ?? null);
    });
  });
}

/** Finds the runtimes installed on the host, in Piston's fixture order; missing toolchains are skipped. */
export async function probeRuntimes(): Promise<Runtime[]> {
  const versions = await Promise.all(PROBES.map(versionOf));
  const out: Runtime[] = [];
  PROBES.forEach((p, i) => {
    const version = versions[i];
    if (!version) return;
    out.push({
      language: p.language, version, aliases: p.aliases(version), ...(p.runtime ? { runtime: p.runtime } : {}), ...p.make,
    });
  });
  return out;
}

/** The public view of a runtime, as `GET /api/v2/runtimes` lists it. */
export function publicRuntime(r: Runtime): PistonRuntime {
  return { language: r.language, version: r.version, aliases: r.aliases, ...(r.runtime !== undefined ? { runtime: r.runtime } : {}) };
}
