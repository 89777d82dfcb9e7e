package httpx

import (
	"reflect"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// CheckText refuses a string that is not valid UTF-8 or holds a control
// character (Unicode Cc: C0, DEL, C1) or a line or paragraph separator,
// which could forge lines in a log or a header, or mislead where it is
// rendered. A multi-line text (notes) may hold tabs and line feeds; a
// single-line one (a name, a subject, a key) none, so "Ann\r\nX-Injected: 1"
// is refused. The 400 names field.
func CheckText(field, s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return BadField(field, "must be valid UTF-8")
	}
	for _, c := range s {
		if multiline && (c == '\n' || c == '\t') {
			continue
		}
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			if multiline {
				return BadField(field, "must not hold control characters other than tab and line feed")
			}
			return BadField(field, "must be a single line without control characters")
		}
	}
	return nil
}

// CheckStrings walks v (as decoded by DecodeJSON) and applies CheckText to
// every string in it: struct fields, map keys and values, slice elements,
// named by their JSON path (case_data.order, items[2].name). A struct field
// tagged `text:"multiline"` may hold tabs and line feeds, and so may the
// values (not the keys) of a map or slice so tagged; everything else is
// single-line.
func CheckStrings(v any) error {
	return checkValue(reflect.ValueOf(v), "", false)
}

func checkValue(v reflect.Value, path string, multiline bool) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return checkValue(v.Elem(), path, multiline)
	case reflect.String:
		return CheckText(fieldName(path), v.String(), multiline)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if f.Anonymous && f.Tag.Get("json") == "" {
				name = ""
			}
			if err := checkValue(v.Field(i), join(path, name), f.Tag.Get("text") == "multiline"); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			if k.Kind() == reflect.String {
				if err := CheckText(fieldName(path), k.String(), false); err != nil {
					return err
				}
				if err := checkValue(iter.Value(), join(path, k.String()), multiline); err != nil {
					return err
				}
				continue
			}
			if err := checkValue(iter.Value(), path, multiline); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // []byte: base64 in JSON, not text
		}
		for i := range v.Len() {
			if err := checkValue(v.Index(i), path+"["+itoa(i)+"]", multiline); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, name string) string {
	switch {
	case name == "":
		return path
	case path == "":
		return name
	}
	return path + "." + name
}

func fieldName(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// ParseTime reads an RFC 3339 time, refusing what time.Parse lets through
// but RFC 3339 §5.6 does not: a UTC offset of 24 hours or more, such as
// -24:00. The 400 names field.
func ParseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, BadField(field, "must be an RFC 3339 time such as 2026-11-26T10:00:00+01:00")
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return time.Time{}, BadField(field, "must have a UTC offset between -23:59 and +23:59")
	}
	return t, nil
}
