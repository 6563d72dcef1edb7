package org.vtpmback.backend.state;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A vTPM's identity: the {@code uuid} of {@code vtpm=["backend=0,uuid=..."]}, in the canonical lower
 * case form, checked once here. Everything that names a vTPM (store file, key derivation, bundles,
 * runtime folder, logs) takes this, never a bare string. Immutable.
 *
 * @param value {@code xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}, lower-case hex
 */
public record Uuid(String value) implements Comparable<Uuid> {
    private static final Pattern FORM = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

    public Uuid {
        if (value == null || !FORM.matcher(value).matches()) {
            throw new IllegalArgumentException("'" + value + "' is not a canonical uuid");
        }
    }

    /**
     * Parses a uuid in either case (libxl and operators write both).
     *
     * @throws IllegalArgumentException naming the text if it is not a uuid
     */
    public static Uuid parse(String text) {
        String lower = text.toLowerCase(Locale.ROOT);
        if (!FORM.matcher(lower).matches()) {
            throw new IllegalArgumentException("'" + text + "' is not a uuid (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
        }
        return new Uuid(lower);
    }

    /** Whether {@code text} is a canonical (lower-case) uuid, e.g. a store file's name. */
    public static boolean isCanonical(String text) {
        return FORM.matcher(text).matches();
    }

    /** The first 8 hex digits: short enough for process and thread names. */
    public String shortForm() {
        return value.substring(0, 8);
    }

    @Override
    public int compareTo(Uuid other) {
        return value.compareTo(other.value);
    }

    @Override
    public String toString() {
        return value;
    }
}
