package org.vtpmback.hotplug.cli;

import java.io.PrintStream;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogRecord;

/**
 * One line per record: {@code 2026-11-27T04:40:00.123Z INFO  [thread] ShortLoggerName: message}, in UTC,
 * with a stack trace (if any) on the lines after it, each of them starting with a tab. The thread is the
 * caller's unless given.
 *
 * <p>For the journal ({@link #forJournal}) a record is exactly one line, hence one journal entry:
 * {@code <6>[thread] ShortLoggerName: message}, the sd-daemon(3) priority prefix instead of time and level
 * (journald stamps each entry itself and reads the priority from the prefix, so {@code journalctl -p err}
 * works), and the stack trace folded into the same line, its parts joined by {@code " | "}: journald's
 * stream reader makes a new entry at every newline.
 *
 * <p>Guest-written strings reach messages (xenstore values, paths) and exception texts, so every control
 * character in them is escaped ({@link #escape}): a line that starts with a time stamp is always a real
 * record, and no text can forge one, move the cursor or recolour a terminal. A record is cut at
 * {@link #MAX_CHARS} characters.
 */
final class OneLineFormatter extends Formatter {
    /** A record longer than this (message and trace together) is cut, saying how much was left out. */
    static final int MAX_CHARS = 64 * 1024;
    private static final DateTimeFormatter TIME =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);
    /**
     * The journal's cut: journald splits a stream line longer than LineMax (default 48 KiB, journald.conf(5))
     * into several entries; 16 Ki characters stay below that in UTF-8 whatever they are.
     */
    static final int JOURNAL_MAX_CHARS = 16 * 1024;
    private static final String NL = System.lineSeparator();

    private final boolean journal;
    /** What comes before a trace's heading, and before each of its frames. */
    private final String traceSep;
    private final String frameSep;
    private final int maxChars;

    /** The terminal and file format: time stamp, level word, trace on indented lines. */
    OneLineFormatter() {
        this(false);
    }

    private OneLineFormatter(boolean journal) {
        this.journal = journal;
        this.traceSep = journal ? " | " : NL + "\t";
        this.frameSep = journal ? " | " : NL + "\t\t";
        this.maxChars = journal ? JOURNAL_MAX_CHARS : MAX_CHARS;
    }

    /** The journal format: priority prefix, no time stamp, one line per record whatever its trace. */
    static OneLineFormatter forJournal() {
        return new OneLineFormatter(true);
    }

    /** The format for {@code err}: the journal's if it is this process's stderr and that is the journal. */
    static OneLineFormatter forStream(PrintStream err) {
        return JournalStream.isStderr(err) ? forJournal() : new OneLineFormatter();
    }

    boolean journal() {
        return journal;
    }

    @Override
    public String format(LogRecord record) {
        return format(record, Thread.currentThread().getName());
    }

    /** The record as written, naming {@code threadName} (the thread that logged it, or the device a summary is about). */
    String format(LogRecord record, String threadName) {
        StringBuilder sb = new StringBuilder(128);
        if (journal) {
            sb.append('<').append(priority(record.getLevel())).append(">[");
        } else {
            sb.append(TIME.format(record.getInstant())).append(' ')
                    .append(String.format("%-5s", levelName(record.getLevel()))).append(" [");
        }
        sb.append(escape(threadName)).append("] ")
                .append(escape(shortName(record.getLoggerName()))).append(": ")
                .append(escape(formatMessage(record)));
        if (record.getThrown() != null) {
            Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
            appendTrace(sb, record.getThrown(), "", new StackTraceElement[0], seen);
        }
        if (sb.length() > maxChars) {
            int cut = sb.length() - maxChars;
            sb.setLength(maxChars);
            sb.append(" ... (").append(cut).append(" more characters cut)");
        }
        return sb.append(NL).toString();
    }

    /** The line written when {@link #format} itself failed: still one escaped line, with the record's priority. */
    String unformattable(LogRecord record, RuntimeException e) {
        String text = escape(record.getLevel() + " " + record.getLoggerName() + ": " + record.getMessage()
                + " (unformattable: " + e + ")");
        return (journal ? "<" + priority(record.getLevel()) + ">" : "") + text + NL;
    }

    /**
     * The trace as {@link Throwable#printStackTrace()} lays it out (causes, suppressed, "... N more" for the
     * frames a cause shares with the trace around it), with every line indented by a tab (or, for the journal,
     * every part after a {@code " | "}) and every text escaped.
     */
    private void appendTrace(StringBuilder sb, Throwable t, String caption, StackTraceElement[] enclosing,
            Set<Throwable> seen) {
        if (!seen.add(t)) {
            sb.append(traceSep).append(caption).append("[circular reference: ").append(escape(t.toString())).append(']');
            return;
        }
        sb.append(traceSep).append(caption).append(escape(t.toString()));
        StackTraceElement[] trace = t.getStackTrace();
        int m = trace.length - 1;
        for (int n = enclosing.length - 1; m >= 0 && n >= 0 && trace[m].equals(enclosing[n]); n--) {
            m--;
        }
        for (int i = 0; i <= m; i++) {
            sb.append(frameSep).append("at ").append(escape(trace[i].toString()));
        }
        if (m < trace.length - 1) {
            sb.append(frameSep).append("... ").append(trace.length - 1 - m).append(" more");
        }
        for (Throwable s : t.getSuppressed()) {
            appendTrace(sb, s, "Suppressed: ", trace, seen);
        }
        if (t.getCause() != null) {
            appendTrace(sb, t.getCause(), "Caused by: ", trace, seen);
        }
    }

    /**
     * {@code text} with every C0 and C1 control character, DEL, the Unicode line and paragraph separators and
     * the bidirectional overrides written as escapes: {@code \n}, {@code \r}, {@code \t}, {@code \e}, or
     * {@code \}{@code xNN} / {@code \}{@code uNNNN}. Other characters, backslash included, stay as they are.
     */
    static String escape(String text) {
        if (text == null) {
            return "null";
        }
        int i = 0;
        while (i < text.length() && !needsEscape(text.charAt(i))) {
            i++;
        }
        if (i == text.length()) {
            return text;
        }
        StringBuilder sb = new StringBuilder(text.length() + 16).append(text, 0, i);
        for (; i < text.length(); i++) {
            char c = text.charAt(i);
            if (!needsEscape(c)) {
                sb.append(c);
            } else if (c == '\n') {
                sb.append("\\n");
            } else if (c == '\r') {
                sb.append("\\r");
            } else if (c == '\t') {
                sb.append("\\t");
            } else if (c == 0x1b) {
                sb.append("\\e");
            } else if (c <= 0xff) {
                sb.append(String.format("\\x%02x", (int) c));
            } else {
                sb.append(String.format("\\u%04x", (int) c));
            }
        }
        return sb.toString();
    }

    private static boolean needsEscape(char c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == '\u2028' || c == '\u2029'
                || (c >= '\u202a' && c <= '\u202e') || (c >= '\u2066' && c <= '\u2069');
    }

    /** The {@code log-level} names: ERROR, WARN, INFO, DEBUG, TRACE. */
    static String levelName(Level level) {
        int v = level.intValue();
        if (v >= Level.SEVERE.intValue()) {
            return "ERROR";
        } else if (v >= Level.WARNING.intValue()) {
            return "WARN";
        } else if (v >= Level.INFO.intValue()) {
            return "INFO";
        } else if (v >= Level.FINE.intValue()) {
            return "DEBUG";
        }
        return "TRACE";
    }

    /**
     * The syslog priority of sd-daemon(3)'s prefix: 3 err (SEVERE, System.Logger's ERROR), 4 warning, 6 info,
     * 7 debug (FINE and below: DEBUG, TRACE). Notice (5) has no java.util.logging level.
     */
    static int priority(Level level) {
        int v = level.intValue();
        if (v >= Level.SEVERE.intValue()) {
            return 3;
        } else if (v >= Level.WARNING.intValue()) {
            return 4;
        } else if (v >= Level.INFO.intValue()) {
            return 6;
        }
        return 7;
    }

    static String shortName(String loggerName) {
        if (loggerName == null || loggerName.isEmpty()) {
            return "root";
        }
        return loggerName.substring(loggerName.lastIndexOf('.') + 1);
    }
}
