package desired

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// kind is the shape of a node of a parsed file.
type kind int

const (
	kNull kind = iota
	kString
	kNumber
	kBool
	kMap
	kList
)

func (k kind) String() string {
	return [...]string{"null", "a string", "a number", "a boolean", "a mapping", "a list"}[k]
}

// node is a value of the file, YAML or JSON alike, with the line it is on.
type node struct {
	kind  kind
	line  int
	value string  // scalars
	keys  []*node // mapping keys (strings), in file order
	vals  []*node // mapping values, parallel to keys
	items []*node // list items
}

// syntaxError is a file that is not YAML or JSON at all.
type syntaxError struct {
	line int
	msg  string
}

// parseTree reads YAML, or JSON when json, into a tree.
func parseTree(data []byte, isJSON bool) (*node, error) {
	if isJSON {
		return parseJSON(data)
	}
	return parseYAML(data)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parseYAML(data []byte) (*node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &node{kind: kNull, line: 1}, nil
		}
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			return nil, &syntaxError{n, m[2]}
		}
		return nil, &syntaxError{0, msg}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &syntaxError{extra.Line, "more than one YAML document"}
	}
	return fromYAML(&doc, 0)
}

func fromYAML(y *yaml.Node, depth int) (*node, error) {
	if depth > 64 {
		return nil, &syntaxError{y.Line, "nested too deeply"}
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return &node{kind: kNull, line: y.Line}, nil
		}
		return fromYAML(y.Content[0], depth+1)
	case yaml.AliasNode:
		return nil, &syntaxError{y.Line, "YAML aliases are not supported"}
	case yaml.MappingNode:
		n := &node{kind: kMap, line: y.Line}
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, err := fromYAML(y.Content[i], depth+1)
			if err != nil {
				return nil, err
			}
			if y.Content[i].Kind == yaml.ScalarNode && y.Content[i].Tag == "!!merge" {
				return nil, &syntaxError{y.Content[i].Line, "YAML merge keys (<<) are not supported"}
			}
			v, err := fromYAML(y.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			if k.kind != kString && k.kind != kNumber && k.kind != kBool {
				return nil, &syntaxError{k.line, "a mapping key must be a plain string"}
			}
			k.kind = kString
			n.keys, n.vals = append(n.keys, k), append(n.vals, v)
		}
		return n, nil
	case yaml.SequenceNode:
		n := &node{kind: kList, line: y.Line}
		for _, c := range y.Content {
			v, err := fromYAML(c, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		return n, nil
	default: // scalar
		n := &node{kind: kString, line: y.Line, value: y.Value}
		switch y.ShortTag() {
		case "!!null":
			n.kind = kNull
		case "!!int", "!!float":
			n.kind = kNumber
		case "!!bool":
			n.kind = kBool
		}
		return n, nil
	}
}

// parseJSON reads JSON token by token, so that each value knows its line.
func parseJSON(data []byte) (*node, error) {
	var nl []int // offsets of the newlines
	for i, c := range data {
		if c == '\n' {
			nl = append(nl, i)
		}
	}
	lineAt := func(off int64) int { return sort.SearchInts(nl, int(off)) + 1 }
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	fail := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return &syntaxError{lineAt(se.Offset), se.Error()}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return &syntaxError{lineAt(int64(len(data))), "unexpected end of JSON"}
		}
		return &syntaxError{lineAt(dec.InputOffset()), err.Error()}
	}
	var value func(depth int) (*node, error)
	value = func(depth int) (*node, error) {
		if depth > 64 {
			return nil, &syntaxError{lineAt(dec.InputOffset()), "nested too deeply"}
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, fail(err)
		}
		// The offset after a token is on the token's own line (JSON
		// strings hold no raw newlines).
		n := &node{line: lineAt(dec.InputOffset() - 1)}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' {
				n.kind = kMap
				for dec.More() {
					kt, err := dec.Token()
					if err != nil {
						return nil, fail(err)
					}
					ks, _ := kt.(string)
					k := &node{kind: kString, line: lineAt(dec.InputOffset() - 1), value: ks}
					v, err := value(depth + 1)
					if err != nil {
						return nil, err
					}
					n.keys, n.vals = append(n.keys, k), append(n.vals, v)
				}
			} else {
				n.kind = kList
				for dec.More() {
					v, err := value(depth + 1)
					if err != nil {
						return nil, err
					}
					n.items = append(n.items, v)
				}
			}
			if _, err := dec.Token(); err != nil { // the closing delimiter
				return nil, fail(err)
			}
		case string:
			n.kind, n.value = kString, t
		case json.Number:
			n.kind, n.value = kNumber, t.String()
		case bool:
			n.kind, n.value = kBool, strconv.FormatBool(t)
		case nil:
			n.kind = kNull
		default:
			return nil, &syntaxError{n.line, fmt.Sprintf("unexpected %v", tok)}
		}
		return n, nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return &node{kind: kNull, line: 1}, nil
	}
	root, err := value(0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &syntaxError{lineAt(dec.InputOffset()), "data after the JSON value"}
	}
	return root, nil
}

func (e *syntaxError) Error() string { return e.msg }
