package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PassphrasesTest {
    @TempDir
    Path tmp;

    private static InputStream stdin(String text) {
        return new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8));
    }

    /** A terminal that answers each prompt with the next line and records the prompts. */
    private static final class FakeTerminal implements Passphrases.Terminal {
        final Deque<String> answers;
        final List<String> prompts = new ArrayList<>();

        FakeTerminal(String... answers) {
            this.answers = new ArrayDeque<>(List.of(answers));
        }

        @Override
        public char[] readPassword(String prompt) {
            prompts.add(prompt);
            return answers.isEmpty() ? null : answers.pop().toCharArray();
        }
    }

    private static String refusal(Optional<Path> file, Optional<Passphrases.Terminal> terminal, String stdin, boolean confirm) {
        return assertThrows(Passphrases.Unavailable.class, () -> Passphrases.read(file, terminal, stdin(stdin), confirm))
                .getMessage();
    }

    /** Failed before: the passphrase was read from stdin with echo on and no prompt. */
    @Test
    void aTerminalIsPromptedWithoutReadingStdin() throws Exception {
        FakeTerminal t = new FakeTerminal("secret", "secret");
        assertArrayEquals("secret".toCharArray(), Passphrases.read(Optional.empty(), Optional.of(t), stdin("other\n"), true));
        assertEquals(List.of("Passphrase: ", "Passphrase again: "), t.prompts);
        FakeTerminal once = new FakeTerminal("secret");
        assertArrayEquals("secret".toCharArray(), Passphrases.read(Optional.empty(), Optional.of(once), stdin(""), false));
        assertEquals(List.of("Passphrase: "), once.prompts, "import asks once");
    }

    @Test
    void twoDifferentAnswersOrNoneAreRefused() {
        assertEquals("the two passphrases typed differ; run the command again",
                refusal(Optional.empty(), Optional.of(new FakeTerminal("secret", "secreT")), "", true));
        assertEquals("no passphrase: nothing was typed at the prompt; give one at the prompt, on the first line of standard"
                + " input, or with --passphrase-file F", refusal(Optional.empty(), Optional.of(new FakeTerminal("")), "", true));
        assertEquals("no passphrase: nothing was typed at the prompt; give one at the prompt, on the first line of standard"
                + " input, or with --passphrase-file F", refusal(Optional.empty(), Optional.of(new FakeTerminal()), "", false));
    }

    @Test
    void withoutATerminalTheFirstLineOfStdinIsThePassphrase() throws Exception {
        assertArrayEquals("piped".toCharArray(), Passphrases.read(Optional.empty(), Optional.empty(), stdin("piped\nmore\n"), true));
        assertEquals("no passphrase: standard input is not a terminal and its first line is empty; give one at the prompt,"
                + " on the first line of standard input, or with --passphrase-file F",
                refusal(Optional.empty(), Optional.empty(), "", false));
    }

    /** Failed before: a missing file was reported as its bare path, an empty one as "empty passphrase". */
    @Test
    void fileErrorsNameTheFileAndTheReason() throws Exception {
        Path missing = tmp.resolve("missing");
        assertEquals("passphrase file " + missing + " does not exist (ENOENT); check the path given to --passphrase-file",
                refusal(Optional.of(missing), Optional.empty(), "x\n", false));
        Path empty = Files.writeString(tmp.resolve("empty"), "");
        assertEquals("passphrase file " + empty + " is empty: its first line is the passphrase",
                refusal(Optional.of(empty), Optional.empty(), "x\n", false));
        assertEquals("passphrase file " + tmp + " is a folder; give the file whose first line is the passphrase",
                refusal(Optional.of(tmp), Optional.empty(), "x\n", false));
        Path good = Files.writeString(tmp.resolve("good"), "from file\nignored\n");
        assertArrayEquals("from file".toCharArray(), Passphrases.read(Optional.of(good), Optional.of(new FakeTerminal("t")),
                stdin("s\n"), true), "the file wins over terminal and stdin");
        Files.setPosixFilePermissions(good, PosixFilePermissions.fromString("---------"));
        if (!"root".equals(System.getProperty("user.name"))) { // root reads it anyway
            assertEquals("passphrase file " + good + " is not readable by this user (EACCES); check its owner and mode",
                    refusal(Optional.of(good), Optional.empty(), "", false));
        }
    }
}
