package org.vtpmback.xenstore;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * An absolute xenstore path ({@code /local/domain/0/backend/vtpm/7/0}) or a special watch path
 * ({@code @releaseDomain}). Validated at construction with xenstored's own rules (xenstore.txt:
 * characters {@code [A-Za-z0-9_@/-]}, at most 3072 bytes), so a guest-supplied string that names an
 * odd path is refused here instead of by the daemon.
 */
public final class XsPath implements Comparable<XsPath> {
    /** Longest absolute path xenstored accepts (XENSTORE_ABS_PATH_MAX). */
    public static final int MAX_LENGTH = 3072;

    public static final XsPath ROOT = new XsPath("/");
    public static final XsPath INTRODUCE_DOMAIN = new XsPath("@introduceDomain");
    public static final XsPath RELEASE_DOMAIN = new XsPath("@releaseDomain");

    private static final Pattern ABSOLUTE = Pattern.compile("/|(/[A-Za-z0-9_@-]+)+");
    private static final Pattern ELEMENT = Pattern.compile("[A-Za-z0-9_@-]+");

    private final String value;

    private XsPath(String value) {
        this.value = value;
    }

    /** Parses an absolute or special path; throws {@link IllegalArgumentException} naming the bad input. */
    public static XsPath of(String value) {
        Objects.requireNonNull(value, "path");
        if (value.equals(INTRODUCE_DOMAIN.value) || value.equals(RELEASE_DOMAIN.value)) {
            return new XsPath(value);
        }
        if (value.length() > MAX_LENGTH || !ABSOLUTE.matcher(value).matches()) {
            throw new IllegalArgumentException("not a valid absolute xenstore path: '" + abbreviate(value) + "'");
        }
        return new XsPath(value);
    }

    /** This path with one more element: {@code /a}.child("b") is {@code /a/b}. */
    public XsPath child(String element) {
        if (!ELEMENT.matcher(element).matches()) {
            throw new IllegalArgumentException("not a valid xenstore path element: '" + abbreviate(element) + "'");
        }
        return of(this == ROOT || value.equals("/") ? "/" + element : value + "/" + element);
    }

    /** {@code child(String.valueOf(number))}, for domids and devids. */
    public XsPath child(long number) {
        return child(Long.toString(number));
    }

    /** The last element, {@code "state"} for {@code /a/state}; empty for the root. */
    public String name() {
        int slash = value.lastIndexOf('/');
        return slash < 0 ? value : value.substring(slash + 1);
    }

    /** The parent path; the root is its own parent. */
    public XsPath parent() {
        int slash = value.lastIndexOf('/');
        return slash <= 0 ? ROOT : new XsPath(value.substring(0, slash));
    }

    /** True if {@code other} is this path or lies below it. */
    public boolean contains(XsPath other) {
        return other.value.equals(value) || other.value.startsWith(value.equals("/") ? "/" : value + "/");
    }

    /** The elements of {@code other} below this path, e.g. {@code /a}.relativize({@code /a/b/c}) is "b/c". */
    public String relativize(XsPath other) {
        if (!contains(other)) {
            throw new IllegalArgumentException(other + " is not below " + this);
        }
        return other.value.length() == value.length() ? "" : other.value.substring(value.equals("/") ? 1 : value.length() + 1);
    }

    public boolean isSpecial() {
        return value.startsWith("@");
    }

    public String value() {
        return value;
    }

    @Override
    public String toString() {
        return value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof XsPath p && p.value.equals(value);
    }

    @Override
    public int hashCode() {
        return value.hashCode();
    }

    @Override
    public int compareTo(XsPath o) {
        return value.compareTo(o.value);
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
