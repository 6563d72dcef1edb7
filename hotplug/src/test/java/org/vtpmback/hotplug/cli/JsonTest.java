package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
    @Test
    void quotesAndBackslashesAreEscaped() {
        assertEquals("\"say \\\"hi\\\" to C:\\\\tmp\"", Json.of("say \"hi\" to C:\\tmp"));
    }

    @Test
    void everyControlCharacterIsEscaped() {
        assertEquals("\"a\\nb\\rc\\td\\be\\ff\\u0000g\\u001fh\\u007f\"", Json.of("a\nb\rc\td\be\ff\0g\u001fh\u007f"));
        for (char c = 0; c < 0x20; c++) {
            String out = Json.of(String.valueOf(c));
            assertEquals(-1, out.substring(1, out.length() - 1).chars().filter(x -> x < 0x20).findAny().orElse(-1),
                    "raw control character " + (int) c + " in " + out);
        }
    }

    /** Pure ASCII out, so a C or POSIX locale's stdout cannot turn ü into '?'. */
    @Test
    void nonAsciiIsEscapedAndSurrogatePairsStayPairs() {
        assertEquals("\"gr\\u00fc\\u00df \\u20ac \\ud83d\\udd11\"", Json.of("grüß € \uD83D\uDD11"));
        assertEquals("\"\\u2028\"", Json.of("\u2028"), "line separator: valid JSON, but breaks JavaScript readers");
    }

    @Test
    void objectsKeepTheirOrderAndNest() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("b", 1);
        m.put("a", Arrays.asList("x", null, true));
        m.put("c\"", Map.of());
        m.put("n", null);
        assertEquals("{\"b\":1,\"a\":[\"x\",null,true],\"c\\\"\":{},\"n\":null}", Json.of(m));
        assertEquals("[]", Json.of(List.of()));
    }
}
