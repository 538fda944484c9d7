import Foundation
import IngestChunking
import Testing

@Suite("Decoding DoclingDocuments")
struct DoclingJSONTests {
    @Test("bare json_content of every format decodes, with page counts where the format has pages")
    func bareDocuments() throws {
        let expectedPages: [String: Int?] = ["html": nil, "docx": nil, "md": nil, "pptx": 3, "xlsx": 2, "csv": nil, "asciidoc": nil]
        for (stem, pages) in expectedPages {
            let document = try Fixtures.document(stem)
            #expect(document.pageCount == pages, "\(stem)")
            #expect(!document.name.isEmpty)
        }
        let html = try Fixtures.document("html")
        #expect(html.name == "handbook")
        #expect(html.mimetype == "text/html")
        #expect(html.texts.count == 28 && html.tables.count == 1 && html.groups.count == 8)
    }

    @Test("a whole convert response decodes, plain and gzip-compressed, to the same document")
    func convertResponse() throws {
        let plain = try DoclingJSON.decodeDocument(from: Fixtures.data("md_convert_response.json"))
        let gzipped = try DoclingJSON.decodeDocument(from: Fixtures.data("md_convert_response.json.gz"))
        #expect(plain.name == "release_notes")
        #expect(gzipped.name == plain.name)
        #expect(gzipped.texts.count == plain.texts.count && plain.texts.count == 24)
        let chunks = chunker().chunks(for: plain)
        #expect(chunks == chunker().chunks(for: gzipped))
    }

    @Test("gzip: the synthetic 50-page document, and a file of two gzip members")
    func gzipDocuments() throws {
        let document = try DoclingJSON.decodeDocument(from: Fixtures.data("synthetic_50_pages.docling.json.gz"))
        #expect(document.pageCount == 50)
        #expect(!document.texts.isEmpty)
        let twoMembers = try DoclingJSON.decodeDocument(from: Fixtures.data("csv_two_members.json.gz"))
        #expect(twoMembers.name == "inventory" && twoMembers.tables.count == 1)
    }

    @Test("wrappers: {json_content}, {document:{json_content}}, and the capture's {body:{document}}")
    func wrappers() throws {
        let bare = try Fixtures.text("csv.json")
        for json in [#"{"json_content":\#(bare)}"#, #"{"document":{"filename":"x","json_content":\#(bare)}}"#,
                     #"{"status_code":200,"body":{"document":{"json_content":\#(bare)},"status":"success"}}"#] {
            let document = try DoclingJSON.decodeDocument(from: Data(json.utf8))
            #expect(document.name == "inventory")
            #expect(document.tables.count == 1)
        }
    }

    @Test("unknown fields are ignored; binary_hash above Int64.max is fine; missing arrays are empty")
    func tolerance() throws {
        let json = """
            {"schema_name":"DoclingDocument","version":"9.9.9","name":"x","future_field":{"a":[1,2]},
             "origin":{"mimetype":"text/html","binary_hash":18446744073709551615,"filename":"x.html"},
             "body":{"self_ref":"#/body","children":[{"$ref":"#/texts/0"},{"$ref":"#/key_value_items/0"},{"$ref":"#/texts/9"}],"brand_new":true},
             "texts":[{"self_ref":"#/texts/0","label":"shiny_new_label","text":"Kept although the label is new.","new_key":1}]}
            """
        let document = try DoclingJSON.decodeDocument(from: Data(json.utf8))
        #expect(document.mimetype == "text/html")
        #expect(document.pageCount == nil)
        let chunks = chunker().chunks(for: document)
        #expect(chunks.map(\.text) == ["Kept although the label is new."])
    }

    @Test("invalid input throws a DoclingDecodingError that says what is wrong", arguments: [
        ("", "empty"),
        ("{not json", "not valid JSON"),
        ("[1,2]", "expected a JSON object"),
        (#"{"hello":"world"}"#, "not a DoclingDocument"),
        (#"{"document":{"json_content":null,"md_content":"x"},"status":"success"}"#, "json_content"),
        (#"{"document":null,"status":"failure","errors":[{"message":"boom"}]}"#, "without a document"),
        (#"{"schema_name":"DoclingDocument","name":"x","texts":{"oops":1}}"#, "texts"),
    ])
    func invalid(input: String, message: String) {
        do {
            _ = try DoclingJSON.decodeDocument(from: Data(input.utf8))
            Issue.record("decoded invalid input \(input)")
        } catch let error as DoclingDecodingError {
            #expect(error.description.contains(message), "\(error.description)")
        } catch {
            Issue.record("wrong error type \(error)")
        }
    }

    @Test("truncated gzip is reported as such")
    func truncatedGzip() throws {
        let data = try Fixtures.data("md_convert_response.json.gz")
        do {
            _ = try DoclingJSON.decodeDocument(from: data.prefix(data.count / 2))
            Issue.record("decoded truncated gzip")
        } catch let error as DoclingDecodingError {
            #expect(error.description.contains("gzip"))
        }
    }

    @Test("the fast reader and JSONDecoder give the same chunks on every fixture")
    func fastReaderMatchesJSONDecoder() throws {
        let names = Fixtures.documents.map(Fixtures.fileName) + ["md_convert_response.json"]
        for name in names {
            let data = try Fixtures.data(name)
            let fast = try DoclingJSON.decodeFast(data)
            let reference = try DoclingJSON.decodeWithJSONDecoder(data)
            #expect(fast.name == reference.name && fast.pageCount == reference.pageCount && fast.mimetype == reference.mimetype, "\(name)")
            #expect(chunker(64).chunks(for: fast) == chunker(64).chunks(for: reference), "\(name)")
        }
    }

    @Test("string escapes: \\n, \\\", \\u00e9, surrogate pairs, escaped slashes")
    func escapes() throws {
        let json = #"{"texts":[{"label":"text","text":"caf\u00e9 \"quoted\" a\/b \ud83d\ude42 line\nbreak \\ end"}],"#
            + ##""body":{"children":[{"$ref":"#/texts/0"}]}}"##
        let data = Data(json.utf8)
        let expected = "café \"quoted\" a/b 🙂 line\nbreak \\ end"
        #expect(try DoclingJSON.decodeFast(data).texts.first?.text == expected)
        #expect(try DoclingJSON.decodeWithJSONDecoder(data).texts.first?.text == expected)
    }
}
