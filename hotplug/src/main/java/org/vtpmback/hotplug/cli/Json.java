package org.vtpmback.hotplug.cli;

import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The few JSON documents of {@code --json}, written by hand: no JSON library is on the class path and these
 * need only objects, arrays, strings, numbers, booleans and null. Output is pure ASCII (every other character
 * is a {@code \\uXXXX} escape), so it survives any locale's stdout encoding.
 */
final class Json {
    private Json() {
    }

    /**
     * {@code value} as JSON: a {@link Map} (keys in its iteration order) is an object, a {@link List} an
     * array, a {@link CharSequence} or enum a string, a {@link Number} or {@link Boolean} itself, null null.
     */
    static String of(Object value) {
        StringBuilder sb = new StringBuilder();
        write(sb, value);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object value) {
        if (value == null) {
            sb.append("null");
        } else if (value instanceof Map<?, ?> map) {
            sb.append('{');
            Iterator<? extends Map.Entry<?, ?>> it = map.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<?, ?> e = it.next();
                string(sb, e.getKey().toString());
                sb.append(':');
                write(sb, e.getValue());
                sb.append(it.hasNext() ? "," : "");
            }
            sb.append('}');
        } else if (value instanceof List<?> list) {
            sb.append('[');
            for (int i = 0; i < list.size(); i++) {
                sb.append(i == 0 ? "" : ",");
                write(sb, list.get(i));
            }
            sb.append(']');
        } else if (value instanceof Number || value instanceof Boolean) {
            sb.append(value);
        } else {
            string(sb, value.toString());
        }
    }

    /** RFC 8259 section 7: quote, backslash and control characters escaped; here also everything past ASCII. */
    private static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7e) {
                        sb.append(String.format("\\u%04x", (int) c)); // a surrogate pair stays two escapes, as JSON wants
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
