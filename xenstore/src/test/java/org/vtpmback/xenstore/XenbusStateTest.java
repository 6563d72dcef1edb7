package org.vtpmback.xenstore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class XenbusStateTest {
    @Test
    void valuesMatchXenbusH() {
        // xen/include/public/io/xenbus.h: Unknown=0 ... Reconfigured=8
        int i = 0;
        for (XenbusState s : XenbusState.values()) {
            assertEquals(i, s.value());
            assertEquals(Optional.of(s), XenbusState.parse(Integer.toString(i)));
            assertEquals(Integer.toString(i), s.wire());
            i++;
        }
        assertEquals(9, i);
        assertEquals(XenbusState.INIT_WAIT, XenbusState.of(2).orElseThrow());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "9", "-1", "04", " 4", "4 ", "x", "44", "\u0664"})
    void refusesAnythingButOneDigit(String wire) {
        assertTrue(XenbusState.parse(wire).isEmpty(), wire);
    }
}
