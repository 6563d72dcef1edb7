package org.vtpmback.hotplug.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;

/**
 * The passphrase of {@code export} and {@code import}: the first line of {@code --passphrase-file F}; else, on a
 * terminal, typed at a prompt without echo ({@code export} asks twice: a typo would make the bundle unopenable);
 * else the first line of standard input, so that scripts can pipe it in.
 */
final class Passphrases {
    /** Reads a passphrase without echo; {@link #console()} on a terminal. */
    @FunctionalInterface
    interface Terminal {
        /** The line typed, without its newline; null at end of input. */
        char[] readPassword(String prompt);
    }

    /** The passphrase could not be had: the message says from where, why, and what to do. */
    static final class Unavailable extends Exception {
        private static final long serialVersionUID = 1L;

        Unavailable(String message) {
            super(message);
        }
    }

    private Passphrases() {
    }

    /** System.console() exists only when standard input and output are both terminals. */
    static Optional<Terminal> console() {
        return Optional.ofNullable(System.console()).map(c -> prompt -> c.readPassword("%s", prompt));
    }

    /**
     * The passphrase; the caller wipes it.
     *
     * @param confirm ask twice at a terminal (export); a file or standard input is read once
     */
    static char[] read(Optional<Path> file, Optional<Terminal> terminal, InputStream stdin, boolean confirm)
            throws Unavailable {
        if (file.isPresent()) {
            return fromFile(file.get());
        }
        if (terminal.isPresent()) {
            char[] first = nonEmpty(terminal.get().readPassword("Passphrase: "), "nothing was typed at the prompt");
            if (!confirm) {
                return first;
            }
            char[] again = terminal.get().readPassword("Passphrase again: ");
            try {
                if (!Arrays.equals(first, again)) {
                    Arrays.fill(first, '\0');
                    throw new Unavailable("the two passphrases typed differ; run the command again");
                }
            } finally {
                if (again != null) {
                    Arrays.fill(again, '\0');
                }
            }
            return first;
        }
        try {
            String line = new BufferedReader(new InputStreamReader(stdin, StandardCharsets.UTF_8)).readLine();
            return nonEmpty(line == null ? null : line.toCharArray(), "standard input is not a terminal and its first line"
                    + " is empty");
        } catch (IOException e) {
            throw new Unavailable("cannot read the passphrase from standard input: " + IoErrors.reason(e));
        }
    }

    private static char[] fromFile(Path file) throws Unavailable {
        String what = "passphrase file " + file;
        if (Files.isDirectory(file)) {
            throw new Unavailable(what + " is a folder; give the file whose first line is the passphrase");
        }
        String line;
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            line = r.readLine();
        } catch (NoSuchFileException e) {
            throw new Unavailable(what + " does not exist (ENOENT); check the path given to --passphrase-file");
        } catch (AccessDeniedException e) {
            throw new Unavailable(what + " is not readable by this user (EACCES); check its owner and mode");
        } catch (IOException e) {
            throw new Unavailable(what + " cannot be read: " + IoErrors.reason(e));
        }
        if (line == null || line.isEmpty()) {
            throw new Unavailable(what + " is empty: its first line is the passphrase");
        }
        return line.toCharArray();
    }

    private static char[] nonEmpty(char[] passphrase, String why) throws Unavailable {
        if (passphrase == null || passphrase.length == 0) {
            throw new Unavailable("no passphrase: " + why + "; give one at the prompt, on the first line of standard input,"
                    + " or with --passphrase-file F");
        }
        return passphrase;
    }
}
