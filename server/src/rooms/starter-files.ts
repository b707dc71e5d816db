/**
 * Languages a room may be created with, and the one starter program each new room holds.
 * Each starter prints a greeting, reads a name from stdin and greets it, so a first run shows
 * both output and the interactive input path.
 */

/** A starter file: its name (a path such as `main.py`) and its text. */
export interface StarterFile {
  name: string;
  text: string;
}

const STARTERS = {
  python: { name: 'main.py', text: 'print("Hello from CodeX!")\nname = input("What is your name? ")\nprint(f"Hello, {name}!")\n' },
  javascript: {
    name: 'main.js',
    text:
      'const readline = require("node:readline");\n' +
      'console.log("Hello from CodeX!");\n' +
      'const rl = readline.createInterface({ input: process.stdin, output: process.stdout });\n' +
      'rl.question("What is your name? ", (name) => {\n  console.log(`Hello, ${name}!`);\n  rl.close();\n});\n',
  },
  typescript: {
    name: 'main.ts',
    text:
      'import * as readline from "node:readline";\n' +
      'console.log("Hello from CodeX!");\n' +
      'const rl = readline.createInterface({ input: process.stdin, output: process.stdout });\n' +
      'rl.question("What is your name? ", (name: string) => {\n  console.log(`Hello, ${name}!`);\n  rl.close();\n});\n',
  },
  c: {
    name: 'main.c',
    text:
      '#include <stdio.h>\n\nint main(void) {\n    char name[100];\n    printf("Hello from CodeX!\\n");\n' +
      '    printf("What is your name? ");\n    fflush(stdout);\n    if (scanf("%99s", name) == 1) printf("Hello, %s!\\n", name);\n    return 0;\n}\n',
  },
  'c++': {
    name: 'main.cpp',
    text:
      '#include <iostream>\n#include <string>\n\nint main() {\n    std::cout << "Hello from CodeX!" << std::endl;\n' +
      '    std::cout << "What is your name? " << std::flush;\n    std::string name;\n    std::getline(std::cin, name);\n' +
      '    std::cout << "Hello, " << name << "!" << std::endl;\n    return 0;\n}\n',
  },
  java: {
    name: 'Main.java',
    text:
      'import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n' +
      '        System.out.println("Hello from CodeX!");\n        System.out.print("What is your name? ");\n        System.out.flush();\n' +
      '        Scanner in = new Scanner(System.in);\n        String name = in.hasNextLine() ? in.nextLine() : "";\n' +
      '        System.out.println("Hello, " + name + "!");\n    }\n}\n',
  },
  bash: { name: 'main.sh', text: 'echo "Hello from CodeX!"\nread -r -p "What is your name? " name\necho "Hello, $name!"\n' },
  ruby: { name: 'main.rb', text: 'puts "Hello from CodeX!"\nprint "What is your name? "\n$stdout.flush\nname = gets.to_s.chomp\nputs "Hello, #{name}!"\n' },
  go: {
    name: 'main.go',
    text:
      'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\nfunc main() {\n\tfmt.Println("Hello from CodeX!")\n' +
      '\tfmt.Print("What is your name? ")\n\tname, _ := bufio.NewReader(os.Stdin).ReadString(\'\\n\')\n' +
      '\tfmt.Printf("Hello, %s!\\n", strings.TrimSpace(name))\n}\n',
  },
  rust: {
    name: 'main.rs',
    text:
      'use std::io::{self, Write};\n\nfn main() {\n    println!("Hello from CodeX!");\n    print!("What is your name? ");\n' +
      '    io::stdout().flush().unwrap();\n    let mut name = String::new();\n    io::stdin().read_line(&mut name).unwrap();\n' +
      '    println!("Hello, {}!", name.trim());\n}\n',
  },
} as const satisfies Record<string, StarterFile>;

/** A language a room can be created with. */
export type RoomLanguage = keyof typeof STARTERS;

/** Every language name accepted by `POST /api/rooms`, in display order. */
export const ROOM_LANGUAGES = Object.keys(STARTERS) as RoomLanguage[];

/** The language of a room created without one. */
export const DEFAULT_LANGUAGE: RoomLanguage = 'python';

/** True when `name` is one of ROOM_LANGUAGES. */
export function isRoomLanguage(name: string): name is RoomLanguage {
  return Object.hasOwn(STARTERS, name);
}

/** The starter file of `language`. */
export function starterFile(language: RoomLanguage): StarterFile {
  return STARTERS[language];
}
