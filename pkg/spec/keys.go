package spec

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// checkKeys walks a JSON document against the Go type it decodes into and
// rejects what encoding/json lets through: object keys that match a field
// only case-insensitively ("ID" for "id") and keys given twice, of which
// encoding/json silently keeps the last. Both would let a spec say one
// thing to a person reading it and another to the runner.
func checkKeys(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return walkValue(dec, t, "")
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func walkValue(dec *json.Decoder, t reflect.Type, path string) error {
	custom := reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)
	switch {
	case !custom && t.Kind() == reflect.Struct:
		return walkObject(dec, t, path)
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		return walkArray(dec, t.Elem(), path)
	}
	return skipValue(dec)
}

func walkObject(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil // null: left for the decoder to judge
	}
	if tok != json.Delim('{') {
		return nil // a type mismatch the decoder reports better
	}
	fields := jsonFields(t)
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		field, ok := fields[key]
		if !ok {
			return fmt.Errorf("%w: unknown field %q at %s (field names are case-sensitive)", ErrInvalid, key, orRoot(path))
		}
		if seen[key] {
			return fmt.Errorf("%w: field %q given twice at %s", ErrInvalid, key, orRoot(path))
		}
		seen[key] = true
		if err := walkValue(dec, field.Type, joinPath(path, key)); err != nil {
			return err
		}
	}
	_, err = dec.Token() // '}'
	return err
}

func walkArray(dec *json.Decoder, elem reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		return err
	}
	for i := 0; dec.More(); i++ {
		if err := walkValue(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	_, err = dec.Token() // ']'
	return err
}

// skipValue consumes one value, however nested.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// jsonFields maps the exact JSON names of t's fields to the fields.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	fields := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f
	}
	return fields
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}
