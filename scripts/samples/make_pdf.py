"""Text-layer PDF (3 pages, headings, paragraphs, list, table) for samples/.
Needs reportlab:  python3 -m venv /tmp/v && /tmp/v/bin/pip install reportlab && /tmp/v/bin/python scripts/samples/make_pdf.py samples"""
import sys, io
from pathlib import Path
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib import colors
from reportlab.platypus import SimpleDocTemplate, Paragraph, Spacer, Table, TableStyle, PageBreak, ListFlowable, ListItem
OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "samples")
ss = getSampleStyleSheet()
def footer(c, doc):
    c.saveState(); c.setFont("Helvetica", 8)
    c.drawString(40, 20, f"Acme Corp – Annual Report 2026 – page {doc.page}")
    c.restoreState()
story = [Paragraph("Annual Report 2026", ss["Title"]),
         Paragraph("Acme Corporation reports revenue growth of 14% driven by the widget division. This report covers operations, finance and outlook.", ss["BodyText"]),
         Paragraph("1. Operations", ss["Heading1"]),
         Paragraph("Manufacturing output rose to 2.4 million units. The new plant in Porto started production in May and reached full capacity in September.", ss["BodyText"]),
         Paragraph("1.1 Supply chain", ss["Heading2"]),
         Paragraph("Lead times for steel components fell from 9 to 6 weeks. Two additional suppliers were qualified.", ss["BodyText"]),
         ListFlowable([ListItem(Paragraph(t, ss["BodyText"])) for t in ["Dual sourcing for all critical parts.", "Inventory buffer of 30 days.", "Quarterly supplier audits."]], bulletType="bullet"),
         PageBreak(),
         Paragraph("2. Financial results", ss["Heading1"]),
         Paragraph("Table 1 summarizes the income statement in millions of euros.", ss["BodyText"]), Spacer(1, 8)]
data = [["Item", "2025", "2026", "Change"], ["Revenue", "412.0", "469.7", "+14.0%"], ["Gross margin", "161.3", "190.2", "+17.9%"], ["Operating profit", "48.9", "61.4", "+25.6%"], ["Net income", "35.2", "44.8", "+27.3%"]]
t = Table(data, colWidths=[150, 80, 80, 80])
t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey), ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold")]))
story += [t, Spacer(1, 6), Paragraph("Table 1: Income statement (EUR million)", ss["Italic"]),
          Paragraph("2.1 Cash flow", ss["Heading2"]),
          Paragraph("Free cash flow reached 52 million euros. Capital expenditure was 31 million, mostly for the Porto plant.", ss["BodyText"]),
          PageBreak(),
          Paragraph("3. Outlook", ss["Heading1"]),
          Paragraph("For 2027 the board expects revenue growth between 8% and 11%, with continued investment in automation.", ss["BodyText"])]
SimpleDocTemplate(str(OUT / "annual_report.pdf"), pagesize=A4, title="Annual Report 2026").build(story, onFirstPage=footer, onLaterPages=footer)

print("pdf ok")
